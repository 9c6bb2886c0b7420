// The trigger form and its countdown. Kind, mode and sites are radio groups and checkboxes
// (the Swedish names issue 10 fixes); the text is the organization's template for the kind
// or the leader's own. "Larma" starts the server's countdown (`trigger_countdown_seconds` of
// /api/v1/config) shown big with "Avbryt": nothing is sent until it reaches zero, so a
// mistaken press costs nothing (DESIGN §1). The POST carries a fresh Idempotency-Key, reused
// if the leader retries the same trigger after a network failure.

import { ApiError, idempotencyKey, postJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { checkedValue, field, h, radioGroup } from "./dom.js";

const KINDS = ["pdv_lockdown", "evacuate", "secure", "custom"];
const MODES = [
  ["actual", "trigger"],
  ["drill", "run_drill"],
  ["test", "run_test"],
];
const MAX_TEXT = 500;

/** The trigger form, or null when the person may trigger nowhere. */
export function renderTrigger(session) {
  const sites = session.sites.filter((site) => MODES.some(([, action]) => session.can(action, site.id)));
  if (sites.length === 0) return null;
  const modes = MODES.filter(([, action]) => session.canAnywhere(action));

  const status = h("p", { class: "status", role: "status" });
  const preview = h("p", { class: "preview" });
  const ownText = h("textarea", { name: "order", rows: 3, maxlength: MAX_TEXT });
  const ownField = field(t("trigger.own_label"), ownText);
  const siteBoxes = sites.map((site) => {
    const id = `trigger-site-${site.id}`;
    return h(
      "div",
      { class: "choice" },
      h("input", { type: "checkbox", id, name: "site", value: site.id, checked: sites.length === 1 }),
      h("label", { for: id }, site.name),
    );
  });
  const form = h(
    "form",
    { class: "trigger", novalidate: true, "aria-labelledby": "trigger-heading" },
    h("h2", { id: "trigger-heading" }, t("trigger.heading")),
    radioGroup(
      t("trigger.kind"),
      "kind",
      KINDS.map((kind) => [kind, t(`kind.${kind}`), `kind-choice kind-choice-${kind}`]),
      "pdv_lockdown",
      { onchange: refresh },
    ),
    radioGroup(t("trigger.mode"), "mode", modes.map(([mode]) => [mode, t(`mode.${mode}`)]), modes[0][0], {
      onchange: refresh,
    }),
    h("fieldset", { class: "choices" }, h("legend", {}, t("trigger.sites")), siteBoxes),
    radioGroup(
      t("trigger.text"),
      "text",
      [
        ["template", t("trigger.template")],
        ["own", t("trigger.own")],
      ],
      "template",
      { onchange: refresh },
    ),
    ownField,
    preview,
    status,
    h("button", { type: "submit", class: "primary trigger-button" }, t("trigger.submit")),
  );
  let pending = null; // {signature, key}: reused when the same trigger is retried

  function refresh() {
    const kind = checkedValue(form, "kind");
    const own = checkedValue(form, "text") === "own" || kind === "custom";
    form.querySelector('input[name="text"][value="template"]').disabled = kind === "custom";
    if (kind === "custom") form.querySelector('input[name="text"][value="own"]').checked = true;
    ownField.hidden = !own;
    preview.replaceChildren(
      h("strong", {}, t("trigger.preview")),
      " ",
      own ? ownText.value.trim() || "…" : session.templateOrder(kind),
    );
  }
  ownText.addEventListener("input", refresh);
  refresh();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = checkedValue(form, "kind");
    const mode = checkedValue(form, "mode");
    const siteIds = [...form.querySelectorAll('input[name="site"]:checked')].map((box) => Number(box.value));
    const own = checkedValue(form, "text") === "own" || kind === "custom";
    const text = ownText.value.trim();
    status.classList.remove("error");
    if (siteIds.length === 0) return fail(t("trigger.no_sites"));
    if (own && !text) {
      ownText.focus();
      return fail(t("trigger.need_text"));
    }
    const action = MODES.find(([m]) => m === mode)[1];
    if (!siteIds.every((id) => session.can(action, id))) return fail(t("trigger.not_allowed"));
    const body = { kind, mode, site_ids: siteIds };
    if (own) body.order = { sv: text, en: text };
    const signature = JSON.stringify(body);
    if (!pending || pending.signature !== signature) pending = { signature, key: idempotencyKey() };
    const description = t("trigger.countdown_body", {
      kind: t(`kind.${kind}`),
      mode: t(`mode.${mode}`),
      sites: siteIds.map((id) => session.siteName(id)).join(", "),
    });
    countdown(form, session, description, {
      onCancel: () => say(t("trigger.cancelled")),
      onDone: () => send(body, pending.key),
    });
  });

  async function send(body, key) {
    say(t("trigger.sending"));
    try {
      const answer = await postJson("alerts", body, { headers: { "Idempotency-Key": key } });
      pending = null;
      session.learn(answer.alert);
      say(answer.created ? t("trigger.sent") : answer.escalated ? t("trigger.escalated") : t("trigger.existing"));
    } catch (error) {
      if (session.checkExpired(error)) return;
      if (error instanceof ApiError && error.code === "alert.other_kind_active") pending = null;
      fail(t("trigger.retry", { message: error.message }));
    }
  }

  function say(text) {
    status.classList.remove("error");
    status.textContent = text;
  }

  function fail(text) {
    status.textContent = text;
    status.classList.add("error");
  }

  return form;
}

/** Count down over the form; "Avbryt" (focused, Escape too) stops it before anything is sent. */
function countdown(form, session, description, { onCancel, onDone }) {
  const total = Math.max(0, Number(session.config.trigger_countdown_seconds ?? 3));
  if (total === 0) return onDone();
  let left = total;
  const number = h("p", { class: "countdown-number", "aria-live": "off" }, String(left));
  const cancel = h("button", { type: "button", class: "countdown-cancel" }, t("trigger.cancel"));
  const dialog = h(
    "div",
    { class: "countdown", role: "alertdialog", "aria-modal": "true", "aria-labelledby": "countdown-title", "aria-describedby": "countdown-body" },
    h("h2", { id: "countdown-title" }, t("trigger.countdown_title")),
    number,
    h("p", { id: "countdown-body", class: "countdown-body" }, description),
    cancel,
  );
  const submit = form.querySelector('button[type="submit"]');
  submit.disabled = true;
  form.append(dialog);
  cancel.focus();
  const timer = setInterval(() => {
    left -= 1;
    if (left > 0) {
      number.textContent = String(left);
      return;
    }
    finish();
    onDone();
  }, 1000);
  session.onDispose(() => clearInterval(timer));
  function finish() {
    clearInterval(timer);
    dialog.remove();
    submit.disabled = false;
    submit.focus();
  }
  cancel.addEventListener("click", () => {
    finish();
    onCancel();
  });
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      finish();
      onCancel();
    }
    if (event.key === "Tab") {
      event.preventDefault(); // the only thing to do here is to cancel
      cancel.focus();
    }
  });
}

// The organization's alert texts (MANAGE_SETTINGS organization-wide): per kind the order and
// the instructions in Swedish and English, as `GET /organization` shows them in force.
// `PATCH /organization {templates}` replaces the whole override document, so saving one kind
// sends the others' overrides unchanged. A field left empty means the built-in text; a field
// nobody changed is not turned into an override (so a later built-in text still reaches it).
// The order of "Eget meddelande" is always written when triggering, so only its
// instructions are offered.

import { getJson, patchJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { field, h } from "./dom.js";

const KINDS = ["pdv_lockdown", "evacuate", "secure", "custom"];
const MAX = 500;

export function renderTemplatesView(session) {
  const status = h("p", { class: "status", role: "status" });
  const holder = h("div");

  function fail(error, where = status) {
    if (!session.checkExpired(error)) where.textContent = t("common.failed", { message: error.message });
  }

  function paint(org) {
    session.organization = org;
    holder.replaceChildren(...KINDS.map((kind) => kindForm(org, kind)));
  }

  function kindForm(org, kind) {
    const overrides = org.templates?.[kind] ?? {};
    const effective = org.kinds[kind];
    const keys = kind === "custom" ? ["instructions_sv", "instructions_en"] : ["order_sv", "order_en", "instructions_sv", "instructions_en"];
    const saved = h("p", { class: "status", role: "status" });
    const inputs = new Map();
    const fields = keys.map((key) => {
      const [part, lang] = key.split("_");
      const control = h("textarea", { name: key, maxlength: MAX, rows: part === "order" ? 2 : 6, lang }, effective[part][lang]);
      inputs.set(key, control);
      const origin = key in overrides ? t("templates.own") : t("templates.builtin");
      return field(`${t(`templates.${part}`)} (${t(`templates.lang_${lang}`)})`, control, origin);
    });
    const form = h(
      "form",
      { class: "panel template-kind", "aria-labelledby": `template-${kind}` },
      h("h2", { id: `template-${kind}` }, t(`kind.${kind}`)),
      ...fields,
      h("button", { type: "submit", class: "primary" }, t("templates.save", { kind: t(`kind.${kind}`) })),
      saved,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      saved.textContent = "";
      const mine = {};
      for (const [key, control] of inputs) {
        const [part, lang] = key.split("_");
        const value = control.value.trim();
        // Keep an override that exists, make one of a changed text; empty: the built-in text.
        if (value && (key in overrides || value !== effective[part][lang].trim())) mine[key] = value;
      }
      const templates = { ...(org.templates ?? {}) };
      if (Object.keys(mine).length) templates[kind] = mine;
      else delete templates[kind];
      try {
        const answer = await patchJson("organization", { templates });
        paint(answer);
        const again = document.getElementById(`template-${kind}`)?.closest("form");
        again?.querySelector("p.status[role=status]:last-child")?.replaceChildren(t("templates.saved", { kind: t(`kind.${kind}`) }));
        again?.querySelector("button[type=submit]")?.focus();
      } catch (error) {
        fail(error, saved);
      }
    });
    return form;
  }

  getJson("organization").then(paint, (error) => fail(error));
  return h("div", { class: "templates-view" }, h("h1", {}, t("templates.heading")), h("p", {}, t("templates.intro")), status, holder);
}

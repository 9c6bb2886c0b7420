// API keys for panic buttons (MANAGE_DEVICES): list, create (the key is shown once), revoke.

import { getJson, postJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { clock, field, h } from "./dom.js";

const KEY_KINDS = ["pdv_lockdown", "evacuate", "secure"];

export function renderKeysView(session) {
  const status = h("p", { class: "status", role: "status" });
  const created = h("p", { class: "created-code", "aria-live": "polite" });
  const holder = h("div");
  const sites = session.sitesWhere("manage_devices");

  function fail(error) {
    if (!session.checkExpired(error)) status.textContent = t("common.failed", { message: error.message });
  }

  async function load() {
    try {
      const keys = await getJson("api-keys");
      holder.replaceChildren(
        h(
          "table",
          { class: "grid" },
          h("caption", {}, t("keys.heading")),
          h("thead", {}, h("tr", {}, [t("keys.name"), t("codes.site"), t("trigger.kind"), "prefix", t("coverage.last_seen"), ""].map((text) => h("th", { scope: "col" }, text)))),
          h(
            "tbody",
            {},
            keys.map((key) =>
              h(
                "tr",
                {},
                h("th", { scope: "row" }, key.name),
                h("td", {}, session.siteName(key.site_id)),
                h("td", {}, t(`kind.${key.kind}`)),
                h("td", { class: "mono" }, key.prefix),
                h("td", {}, key.last_used_at ? clock(key.last_used_at) : t("coverage.never")),
                h(
                  "td",
                  {},
                  key.revoked_at
                    ? t("keys.revoked")
                    : h("button", { type: "button", class: "danger", onclick: () => revoke(key) }, `${t("keys.revoke")} ${key.name}`),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (error) {
      fail(error);
    }
  }

  async function revoke(key) {
    try {
      await postJson(`api-keys/${key.id}/revoke`);
      load();
    } catch (error) {
      fail(error);
    }
  }

  const name = h("input", { name: "name", maxlength: 100 });
  const site = h("select", { name: "site" }, sites.map((s) => h("option", { value: s.id }, s.name)));
  const kind = h("select", { name: "kind" }, KEY_KINDS.map((k) => h("option", { value: k }, t(`kind.${k}`))));
  const form = h("form", { class: "panel" }, h("h2", {}, t("keys.create")), field(t("keys.name"), name), field(t("codes.site"), site), field(t("trigger.kind"), kind), h("button", { type: "submit", class: "primary" }, t("keys.create")), created);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!name.value.trim()) return name.focus();
    try {
      const answer = await postJson("api-keys", { name: name.value.trim(), site_id: Number(site.value), kind: kind.value });
      created.textContent = t("keys.created", { key: answer.key });
      load();
    } catch (error) {
      fail(error);
    }
  });
  load();
  return h("div", { class: "keys-view" }, h("h1", {}, t("keys.heading")), status, sites.length ? form : null, holder);
}

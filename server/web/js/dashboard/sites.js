// Sites and zones (MANAGE_SITES): every site with its zones; add a zone to a site, add a
// site (organization-wide right), rename and delete zones.

import { del, getJson, patchJson, postJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { field, h } from "./dom.js";

export function renderSitesView(session) {
  const holder = h("div");
  const status = h("p", { class: "status", role: "status" });

  async function reload() {
    try {
      const sites = await getJson("sites");
      session.sites = sites;
      session.sitesById = new Map(sites.map((site) => [site.id, site]));
      paint(sites);
    } catch (error) {
      fail(error);
    }
  }

  function fail(error) {
    if (!session.checkExpired(error)) status.textContent = t("common.failed", { message: error.message });
  }

  async function act(call) {
    status.textContent = "";
    try {
      await call();
      status.textContent = t("devices.saved");
      await reload();
    } catch (error) {
      fail(error);
    }
  }

  function paint(sites) {
    holder.replaceChildren(
      ...sites
        .filter((site) => session.can("manage_sites", site.id))
        .map((site) => {
          const name = h("input", { name: "zone", maxlength: 200, required: true });
          const form = h(
            "form",
            { class: "inline" },
            field(t("sites.zone_name"), name),
            h("button", { type: "submit" }, t("sites.add")),
          );
          form.addEventListener("submit", (event) => {
            event.preventDefault();
            if (name.value.trim()) act(() => postJson(`sites/${site.id}/zones`, { name: name.value.trim() }));
          });
          return h(
            "section",
            { class: "panel", "aria-labelledby": `site-${site.id}` },
            h("h2", { id: `site-${site.id}` }, site.name),
            h("h3", {}, t("sites.zones")),
            site.zones.length
              ? h(
                  "ul",
                  { class: "zones" },
                  site.zones.map((zone) => {
                    const rename = h("input", { value: zone.name, maxlength: 200 });
                    return h(
                      "li",
                      {},
                      field(t("devices.new_name", { name: zone.name }), rename),
                      h("button", { type: "button", onclick: () => act(() => patchJson(`sites/${site.id}/zones/${zone.id}`, { name: rename.value.trim() })) }, t("common.save")),
                      h("button", { type: "button", onclick: () => act(() => del(`sites/${site.id}/zones/${zone.id}`)) }, t("sites.delete_zone", { name: zone.name })),
                    );
                  }),
                )
              : h("p", { class: "muted" }, t("sites.no_zones")),
            h("h3", {}, t("sites.add_zone")),
            form,
          );
        }),
    );
  }

  const children = [h("h1", {}, t("sites.heading")), status];
  if (session.canOrg("manage_sites")) {
    const name = h("input", { name: "site", maxlength: 200 });
    const form = h("form", { class: "inline panel" }, h("h2", {}, t("sites.new_site")), field(t("sites.site_name"), name), h("button", { type: "submit" }, t("sites.add")));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (name.value.trim()) act(() => postJson("sites", { name: name.value.trim() }));
    });
    children.push(form);
  }
  children.push(holder);
  paint(session.sites);
  return h("div", { class: "sites-view" }, ...children);
}

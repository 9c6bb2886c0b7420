// Sites and zones (MANAGE_SITES): every site with its details (name, address, whether its
// staff may trigger — `PATCH /sites/{id}`) and zones; add a zone to a site, add a site
// (organization-wide right), rename zones, and delete a zone after asking once more.

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
            siteForm(site),
            h("h3", {}, t("sites.zones")),
            site.zones.length
              ? h(
                  "ul",
                  { class: "zones" },
                  site.zones.map((zone) => {
                    const rename = h("input", { value: zone.name, maxlength: 200 });
                    const item = h("li", {});
                    const paintZone = () =>
                      item.replaceChildren(
                        field(t("devices.new_name", { name: zone.name }), rename),
                        h("button", { type: "button", onclick: () => act(() => patchJson(`sites/${site.id}/zones/${zone.id}`, { name: rename.value.trim() })) }, t("common.save")),
                        h("button", { type: "button", class: "danger", onclick: () => confirmDelete(site, zone, item, paintZone) }, t("sites.delete_zone", { name: zone.name })),
                      );
                    paintZone();
                    return item;
                  }),
                )
              : h("p", { class: "muted" }, t("sites.no_zones")),
            h("h3", {}, t("sites.add_zone")),
            form,
          );
        }),
    );
  }

  /** Name, address and "staff may trigger"; only what changed is sent. */
  function siteForm(site) {
    const name = h("input", { value: site.name, maxlength: 200, required: true });
    const address = h("input", { value: site.address ?? "", maxlength: 300 });
    const staff = h("input", { type: "checkbox", checked: Boolean(site.staff_may_trigger) });
    const staffId = `staff-trigger-${site.id}`;
    staff.id = staffId;
    const form = h(
      "form",
      { class: "site-form", "aria-label": t("sites.details", { name: site.name }) },
      field(t("sites.site_name"), name),
      field(t("sites.address"), address),
      h(
        "div",
        { class: "check" },
        staff,
        h("label", { for: staffId }, t("sites.staff_may_trigger")),
      ),
      h("p", { class: "hint" }, t("sites.staff_may_trigger_hint")),
      h("button", { type: "submit" }, t("sites.save_site")),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const changes = {};
      if (name.value.trim() && name.value.trim() !== site.name) changes.name = name.value.trim();
      if (address.value.trim() !== (site.address ?? "")) changes.address = address.value.trim();
      if (staff.checked !== Boolean(site.staff_may_trigger)) changes.staff_may_trigger = staff.checked;
      if (Object.keys(changes).length === 0) {
        status.textContent = t("sites.unchanged");
        return;
      }
      act(() => patchJson(`sites/${site.id}`, changes));
    });
    return form;
  }

  /** Deleting a zone asks once more, in place; "Nej, tillbaka" puts the row back. */
  function confirmDelete(site, zone, item, restore) {
    const no = h(
      "button",
      {
        type: "button",
        onclick: () => {
          restore();
          item.querySelector("button.danger")?.focus();
        },
      },
      t("alert.confirm_no"),
    );
    const yes = h("button", { type: "button", class: "danger", onclick: () => act(() => del(`sites/${site.id}/zones/${zone.id}`)) }, t("sites.confirm_delete_yes"));
    item.replaceChildren(h("div", { class: "confirm", role: "group", "aria-label": t("sites.delete_zone", { name: zone.name }) }, h("p", { class: "confirm-question" }, t("sites.confirm_delete", { name: zone.name })), yes, no));
    yes.focus();
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

// One person's editor in the people view (`PATCH /persons/{id}`): their roles — each a role
// and where it holds (a site, or the whole organization for a security chief or admin),
// saved together since `roles` replaces every role — and their account: deactivating asks
// once more, in place, and says what it does (logged out, cannot log in; their devices keep
// receiving alerts until revoked); reactivating is not destructive and asks nothing.

import { patchJson } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { field, h, uid } from "./dom.js";

export const ROLES = ["staff", "principal", "security_chief", "admin"];
export const ORG_WIDE = new Set(["security_chief", "admin"]);

/** The editor of `person`; `saved()` after a change, `close()` when the person is done. */
export function personEditor(session, person, { saved, close }) {
  const headingId = uid("edit-person");
  const status = h("p", { class: "status", role: "status" });
  const rolesBox = h("div", { class: "roles" });
  const account = h("div", { class: "account" });
  const panel = h("section", { class: "panel person-editor", "aria-labelledby": headingId });
  let current = person;

  function fail(error) {
    if (!session.checkExpired(error)) status.textContent = t("common.failed", { message: error.message });
  }

  async function save(changes, done) {
    status.textContent = "";
    try {
      current = await patchJson(`persons/${current.id}`, changes);
      status.textContent = t(done, { name: current.name });
      paintAccount();
      saved();
    } catch (error) {
      fail(error);
    }
  }

  /** A site select for `role`: organization-wide roles may also hold everywhere. */
  function siteSelect(role, siteId) {
    const options = session.sites.map((s) => h("option", { value: s.id, selected: s.id === siteId }, s.name));
    if (ORG_WIDE.has(role)) options.unshift(h("option", { value: "", selected: siteId === null }, t("people.whole_org")));
    return h("select", { name: "site" }, options);
  }

  function roleRow(role, siteId) {
    const row = h("fieldset", { class: "role" });
    const roleSelect = h("select", { name: "role" }, ROLES.map((r) => h("option", { value: r, selected: r === role }, t(`role.${r}`))));
    let site = siteSelect(role, siteId);
    const siteField = field(t("common.site"), site);
    roleSelect.addEventListener("change", () => {
      const fresh = siteSelect(roleSelect.value, ORG_WIDE.has(roleSelect.value) ? null : (Number(site.value) || session.sites[0]?.id));
      fresh.id = site.id;
      site.replaceWith(fresh);
      site = fresh;
    });
    const remove = h("button", { type: "button", class: "danger", onclick: () => removeRow(row) }, t("people.remove_role"));
    row.append(h("legend", {}, ""), field(t("people.role"), roleSelect), siteField, remove);
    row.roleValue = () => ({ role: roleSelect.value, site_id: site.value ? Number(site.value) : null });
    return row;
  }

  function numberRows() {
    const rows = [...rolesBox.querySelectorAll("fieldset.role")];
    rows.forEach((row, index) => {
      row.querySelector("legend").textContent = t("people.role_n", { n: index + 1 });
    });
    noRoles.hidden = rows.length > 0;
  }

  function removeRow(row) {
    row.remove();
    numberRows();
    addRole.focus();
  }

  const noRoles = h("p", { class: "muted" }, t("people.no_roles"));
  const addRole = h(
    "button",
    {
      type: "button",
      onclick: () => {
        const row = roleRow("staff", session.sites[0]?.id ?? null);
        rolesBox.append(row);
        numberRows();
        row.querySelector("select")?.focus();
      },
    },
    t("people.add_role"),
  );
  rolesBox.append(...person.roles.map((role) => roleRow(role.role, role.site_id)));

  const rolesForm = h(
    "form",
    { class: "roles-form", "aria-label": t("people.roles") },
    h("h3", {}, t("people.roles")),
    noRoles,
    rolesBox,
    h("div", { class: "actions" }, addRole, h("button", { type: "submit", class: "primary" }, t("people.save_roles"))),
  );
  rolesForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const roles = [...rolesBox.querySelectorAll("fieldset.role")].map((row) => row.roleValue());
    save({ roles }, "people.roles_saved");
  });

  function paintAccount() {
    const active = current.active;
    const toggle = h(
      "button",
      { type: "button", class: active ? "danger" : null, onclick: () => (active ? confirmDeactivate() : save({ active: true }, "people.reactivated")) },
      t(active ? "people.deactivate" : "people.reactivate"),
    );
    account.replaceChildren(h("h3", {}, t("people.account")), h("p", {}, t(active ? "people.is_active" : "people.is_inactive", { name: current.name })), toggle);
  }

  function confirmDeactivate() {
    const no = h(
      "button",
      {
        type: "button",
        onclick: () => {
          paintAccount();
          account.querySelector("button")?.focus();
        },
      },
      t("alert.confirm_no"),
    );
    const yes = h("button", { type: "button", class: "danger", onclick: () => save({ active: false }, "people.deactivated") }, t("people.confirm_deactivate_yes"));
    account.replaceChildren(
      h("h3", {}, t("people.account")),
      h(
        "div",
        { class: "confirm", role: "group", "aria-label": t("people.deactivate") },
        h("p", { class: "confirm-question" }, t("people.confirm_deactivate", { name: current.name })),
        yes,
        no,
      ),
    );
    yes.focus();
  }

  numberRows();
  paintAccount();
  panel.append(
    h("h2", { id: headingId, tabindex: "-1" }, t("people.edit_person", { name: person.name })),
    h("p", { class: "muted" }, person.email),
    status,
    rolesForm,
    account,
    h("button", { type: "button", onclick: close }, t("alert.close")),
  );
  return panel;
}

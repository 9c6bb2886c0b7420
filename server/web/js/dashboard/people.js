// People (MANAGE_PEOPLE): the organization's persons with their roles, and the CSV import
// (`POST /persons/import`, `email,name,role,site`). "Kontrollera" is the dry run: it shows
// each line's error and writes nothing; "Importera" writes all lines or none. "Ändra" opens
// a person's editor (people_editor.js): roles, deactivate (asked once more) and reactivate.

import { getJson, postJson, request } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { field, h, table } from "./dom.js";
import { ORG_WIDE, ROLES, personEditor } from "./people_editor.js";

export function renderPeopleView(session) {
  const listHolder = h("div", { class: "people-list" });
  const editorHolder = h("div");
  const status = h("p", { class: "status", role: "status" });

  function edit(person, opener) {
    const editor = personEditor(session, person, {
      saved: loadList,
      close: () => {
        editorHolder.replaceChildren();
        // The list may have been repainted since: its button, else the one that opened it.
        (listHolder.querySelector(`button[data-person="${person.id}"]`) ?? opener).focus();
      },
    });
    editorHolder.replaceChildren(editor);
    editor.querySelector("h2")?.focus();
  }

  async function loadList() {
    try {
      const persons = await getJson("persons");
      listHolder.replaceChildren(
        table(
          t("people.heading"),
          [t("people.name"), t("people.email"), t("people.roles"), t("people.active"), ""],
          persons.map((person) => [
            person.name,
            person.email,
            person.roles.map((role) => `${t(`role.${role.role}`)}${role.site_id ? ` (${session.siteName(role.site_id)})` : ""}`).join(", ") || "–",
            person.active ? t("report.yes") : t("report.no"),
            h(
              "button",
              {
                type: "button",
                "data-person": person.id,
                "aria-label": t("people.edit_person", { name: person.name }),
                onclick: (event) => edit(person, event.currentTarget),
              },
              t("people.edit"),
            ),
          ]),
        ),
      );
    } catch (error) {
      if (!session.checkExpired(error)) status.textContent = t("common.failed", { message: error.message });
    }
  }

  const csv = h("textarea", { rows: 8, name: "csv", spellcheck: "false", class: "mono" });
  const file = h("input", { type: "file", accept: ".csv,text/csv" });
  file.addEventListener("change", async () => {
    if (file.files?.[0]) csv.value = await file.files[0].text();
  });
  const result = h("div", { class: "import-result", role: "status" });

  async function runImport(dryRun) {
    result.replaceChildren();
    try {
      const answer = await request(`/api/v1/persons/import?dry_run=${dryRun}`, {
        method: "POST",
        body: csv.value,
        contentType: "text/csv; charset=utf-8",
      });
      const errors = answer.errors ?? [];
      result.append(h("p", { class: errors.length ? "error" : "ok" }, t(answer.dry_run ? "people.result_dry" : "people.result", answer)));
      if (errors.length) {
        result.append(
          table(
            t("people.errors"),
            [t("people.line"), t("people.code"), t("people.message")],
            errors.map((error) => [String(error.line), error.code, error.message]),
          ),
        );
      }
      if (!answer.dry_run && !errors.length) loadList();
    } catch (error) {
      if (!session.checkExpired(error)) result.append(h("p", { class: "error" }, t("common.failed", { message: error.message })));
    }
  }

  const name = h("input", { name: "name", maxlength: 200, autocomplete: "off" });
  const email = h("input", { name: "email", type: "email", maxlength: 254, autocomplete: "off" });
  const role = h("select", { name: "role" }, ROLES.map((r) => h("option", { value: r }, t(`role.${r}`))));
  const site = h("select", { name: "site" }, session.sites.map((s) => h("option", { value: s.id }, s.name)));
  const siteField = field(t("common.site"), site);
  role.addEventListener("change", () => (siteField.hidden = ORG_WIDE.has(role.value)));
  const password = h("input", { name: "new-password", type: "password", minlength: 10, autocomplete: "new-password" });
  const added = h("p", { class: "status", role: "status" });
  const addForm = h(
    "form",
    { class: "panel", "aria-labelledby": "add-person-heading", novalidate: true },
    h("h2", { id: "add-person-heading" }, t("people.add")),
    field(t("people.name"), name),
    field(t("people.email"), email),
    field(t("people.role"), role),
    siteField,
    field(t("people.password"), password, t("people.password_hint")),
    h("button", { type: "submit", class: "primary" }, t("people.add")),
    added,
  );
  addForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    added.textContent = "";
    const body = {
      name: name.value.trim(),
      email: email.value.trim(),
      roles: [{ role: role.value, site_id: ORG_WIDE.has(role.value) ? null : Number(site.value) }],
    };
    if (password.value) body.password = password.value;
    try {
      const person = await postJson("persons", body);
      added.textContent = t("people.added", { name: person.name });
      addForm.reset();
      siteField.hidden = false;
      loadList();
    } catch (error) {
      if (!session.checkExpired(error)) added.textContent = t("common.failed", { message: error.message });
    }
  });

  loadList();
  return h(
    "div",
    { class: "people-view" },
    h("h1", {}, t("people.heading")),
    status,
    addForm,
    h(
      "section",
      { class: "panel", "aria-labelledby": "import-heading" },
      h("h2", { id: "import-heading" }, t("people.import")),
      field(t("people.csv"), csv, t("people.import_hint")),
      field(t("people.file"), file),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", onclick: () => runImport(true) }, t("people.dry_run")),
        h("button", { type: "button", class: "primary", onclick: () => runImport(false) }, t("people.run")),
      ),
      result,
    ),
    editorHolder,
    listHolder,
  );
}

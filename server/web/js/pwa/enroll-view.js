// Enrolling this browser: the code (typed, or pre-filled from /enroll?code=… where the
// dashboard's QR codes point) and a name for the device, bound to the logged-in person.

import { ApiError } from "../shared/api.js";
import { t } from "../shared/i18n.js";
import { el } from "./dom.js";
import { suggestedName } from "./device.js";

function failure(error) {
  if (error instanceof ApiError && error.status === 0) return t("enroll.network");
  return t("enroll.failed", { message: error.message || String(error) });
}

/** The form; `onEnroll({code, name})` resolves when enrolled (or throws). */
export function enrollView({ person, code = "", onEnroll, onLogout }) {
  const codeInput = el("input", { id: "enroll-code", name: "code", type: "text", autocomplete: "one-time-code", autocapitalize: "characters", spellcheck: "false", required: true, maxlength: 100, value: code });
  const nameInput = el("input", { id: "enroll-name", name: "name", type: "text", required: true, maxlength: 100, value: suggestedName(person.name) });
  const message = el("p", { class: "error", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary big" }, t("enroll.submit"));
  const logout = el("button", { type: "button", class: "link" }, t("enroll.logout"));
  logout.addEventListener("click", onLogout);
  const form = el(
    "form",
    { class: "enroll card", novalidate: true },
    el("h1", {}, t("enroll.heading")),
    el("p", {}, t("enroll.intro", { name: person.name })),
    el("label", { for: "enroll-code" }, t("enroll.code")),
    codeInput,
    el("label", { for: "enroll-name" }, t("enroll.name")),
    nameInput,
    message,
    submit,
    logout,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    if (!codeInput.value.trim()) {
      codeInput.focus();
      return;
    }
    submit.disabled = true;
    try {
      await onEnroll({ code: codeInput.value, name: nameInput.value || suggestedName(person.name) });
    } catch (error) {
      message.textContent = failure(error);
      codeInput.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

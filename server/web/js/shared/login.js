// The login form both pages start with: "E-post", "Lösenord", "Logga in" (docs: issue 10's
// accessible names). It posts to /api/v1/auth/login (the server sets the session cookie) and
// hands the logged-in person ({person: me}) to `onLoggedIn`. Wrong credentials, throttling and
// an unreachable server each get their own message; the password field is cleared on failure.

import { ApiError, postJson } from "./api.js";
import { addTexts, t } from "./i18n.js";

addTexts({
  sv: {
    "login.heading": "Logga in",
    "login.email": "E-post",
    "login.password": "Lösenord",
    "login.submit": "Logga in",
    "login.wrong": "Fel e-post eller lösenord.",
    "login.throttled": "För många försök. Vänta en stund och försök igen.",
    "login.network": "Ingen anslutning till servern. Försök igen.",
    "login.failed": "Inloggningen misslyckades: {message}",
  },
  en: {
    "login.heading": "Log in",
    "login.email": "Email",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.wrong": "Wrong email or password.",
    "login.throttled": "Too many attempts. Wait a moment and try again.",
    "login.network": "No connection to the server. Try again.",
    "login.failed": "Login failed: {message}",
  },
});

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/** Render the form into `container`; resolves nothing, calls `onLoggedIn(me)` on success. */
export function renderLogin(container, onLoggedIn) {
  const form = element("form", { class: "login", novalidate: "" });
  const heading = element("h1", {}, t("login.heading"));
  const email = element("input", { id: "login-email", type: "email", name: "email", autocomplete: "username", required: "" });
  const password = element("input", {
    id: "login-password",
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: "",
  });
  const message = element("p", { class: "error", role: "alert" });
  const submit = element("button", { type: "submit", class: "primary" }, t("login.submit"));
  form.append(
    heading,
    element("label", { for: "login-email" }, t("login.email")),
    email,
    element("label", { for: "login-password" }, t("login.password")),
    password,
    message,
    submit,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    message.textContent = "";
    submit.disabled = true;
    try {
      const answer = await postJson("auth/login", { email: email.value.trim(), password: password.value });
      onLoggedIn(answer.person);
    } catch (error) {
      password.value = "";
      message.textContent = loginError(error);
      password.focus();
    } finally {
      submit.disabled = false;
    }
  });
  container.replaceChildren(form);
  email.focus();
  return form;
}

function loginError(error) {
  if (!(error instanceof ApiError)) return t("login.failed", { message: String(error) });
  if (error.status === 0) return t("login.network");
  if (error.status === 429) return t("login.throttled");
  if (error.status === 401 || error.status === 403) return t("login.wrong");
  return t("login.failed", { message: error.message });
}

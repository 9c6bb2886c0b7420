// The HTTP API from the browser: JSON in and out, errors as ApiError with the server's stable
// code (docs/api.md), messages in the page's language. The dashboard is authenticated by its
// session cookie (same origin; the server checks Origin on every write); the PWA, once its
// device is enrolled, by the device token.

import { language } from "./i18n.js";

export const API = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message, detail = "") {
    super(message || code);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

/** Call the API; `body` is sent as JSON unless it is a string (sent as `contentType`). */
export async function request(path, { method = "GET", body, token, headers = {}, contentType } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json", "Accept-Language": language(), ...headers },
  };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    const raw = typeof body === "string";
    init.headers["Content-Type"] = contentType ?? (raw ? "text/plain; charset=utf-8" : "application/json");
    init.body = raw ? body : JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith("/") ? path : `${API}/${path}`, init);
  } catch (error) {
    throw new ApiError(0, "network", error.message);
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error ?? {};
    throw new ApiError(response.status, error.code ?? `http.${response.status}`, error.message ?? text, error.detail ?? "");
  }
  return data ?? text;
}

export const getJson = (path, options = {}) => request(path, options);
export const postJson = (path, body, options = {}) => request(path, { ...options, method: "POST", body });
export const patchJson = (path, body, options = {}) => request(path, { ...options, method: "PATCH", body });
export const putJson = (path, body, options = {}) => request(path, { ...options, method: "PUT", body });
export const del = (path, options = {}) => request(path, { ...options, method: "DELETE" });

/** A fresh Idempotency-Key for a write that must not happen twice (a trigger). */
export function idempotencyKey() {
  return crypto.randomUUID();
}

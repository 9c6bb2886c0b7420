// This browser's enrolled device: its token and what the app needs beside it, kept in
// IndexedDB because the service worker reads it too (a push wakes the worker with no page
// open, and its HTTP receipts need the device token; localStorage is not readable there).
//
// The record (one, under the key "self"): {token, id, name, site_id, zone_id, silent}.
// sw.js opens the same database, store and key (DB_NAME, STORE, KEY) read-only: keep both in
// step. Where IndexedDB is unavailable (some private modes), the page falls back to
// localStorage; the service worker then sends no receipts, but the page still does.

import { postJson } from "../shared/api.js";

export const DB_NAME = "pdv-alert";
export const STORE = "kv";
export const KEY = "self";
const FALLBACK_KEY = "pdv-alert.device";

function openDatabase() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
    request.onblocked = () => reject(new Error("IndexedDB blocked"));
  });
}

async function transact(mode, work) {
  const db = await openDatabase();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("aborted"));
    });
  } finally {
    db.close();
  }
}

/** The stored device record, or null when this browser is not enrolled. */
export async function loadDevice() {
  try {
    const record = await transact("readonly", (store) => store.get(KEY));
    if (record?.token) return record;
  } catch {
    // fall through to localStorage
  }
  try {
    const record = JSON.parse(localStorage.getItem(FALLBACK_KEY) ?? "null");
    return record?.token ? record : null;
  } catch {
    return null;
  }
}

/** Keep `record` (replacing any earlier one). */
export async function saveDevice(record) {
  try {
    await transact("readwrite", (store) => store.put(record, KEY));
    localStorage.removeItem(FALLBACK_KEY);
  } catch {
    localStorage.setItem(FALLBACK_KEY, JSON.stringify(record));
  }
}

/** Forget the device (revoked, or enrolled anew). */
export async function forgetDevice() {
  localStorage.removeItem(FALLBACK_KEY);
  try {
    await transact("readwrite", (store) => store.delete(KEY));
  } catch {
    // nothing stored there
  }
}

/** A name that tells the person's devices apart in the roll call: "Anna Lind – iPhone". */
export function suggestedName(personName, userAgent = navigator.userAgent) {
  const platforms = [
    [/iPad|Macintosh.*Mobile/, "iPad"],
    [/iPhone/, "iPhone"],
    [/Android/, "Android"],
    [/CrOS/, "Chromebook"],
    [/Macintosh/, "Mac"],
    [/Windows/, "Windows"],
    [/Linux/, "Linux"],
  ];
  const platform = platforms.find(([pattern]) => pattern.test(userAgent))?.[1] ?? "webbläsare";
  return `${personName} – ${platform}`.slice(0, 100);
}

/** Enroll this browser as a `web` device with `code`; the session cookie binds it to the
 * logged-in person. Returns the stored record (the token is shown once: kept at once). */
export async function enroll({ code, name, silent = false }) {
  const answer = await postJson("devices/enroll", { code: code.trim(), kind: "web", name: name.trim(), client_version: "pwa" });
  const device = answer.device;
  const record = { token: answer.token, id: device.id, name: device.name, site_id: device.site_id, zone_id: device.zone_id ?? null, silent };
  await saveDevice(record);
  return record;
}

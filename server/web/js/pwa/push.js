// Web Push for the PWA: the service worker at /sw.js (scope /), the browser's subscription
// made with the server's VAPID key (GET /api/v1/config `vapid_public_key`), and the
// registration at the server (PUT /api/v1/devices/self/push with the subscription's
// toJSON(), device token). Asking for permission needs a user gesture, so `activate` runs
// from a click (enrolling, or "Aktivera aviseringar"); `refresh` runs at every start and only
// re-sends a subscription the browser already has, or makes one where permission was given.

import { putJson } from "../shared/api.js";

export const PushState = Object.freeze({
  ACTIVE: "active", // subscribed and registered at the server
  OFF: "off", // possible, not yet asked or not yet subscribed
  DENIED: "denied", // the person (or the browser) said no
  UNSUPPORTED: "unsupported", // no service worker / Push API (iOS Safari outside the home screen app)
  NO_KEY: "no_key", // the server has no VAPID key
  FAILED: "failed",
});

export function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

/** Register the service worker (also what makes the offline shell work). */
export async function registerWorker() {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register("/sw.js", { scope: "/" });
  } catch (error) {
    console.warn("pdv-alert: service worker not registered", error);
    return null;
  }
}

/** base64url (no padding) → bytes, as `applicationServerKey` wants. */
export function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (char) => char.charCodeAt(0));
}

function sameKey(subscription, wanted) {
  const key = subscription?.options?.applicationServerKey;
  if (!key) return true; // the browser does not say: trust it
  const have = new Uint8Array(key);
  return have.length === wanted.length && have.every((byte, i) => byte === wanted[i]);
}

/** The state before asking anything (for the home view's first paint). */
export function initialState(vapidKey) {
  if (!supported()) return PushState.UNSUPPORTED;
  if (!vapidKey) return PushState.NO_KEY;
  if (Notification.permission === "denied") return PushState.DENIED;
  return PushState.OFF;
}

async function subscribeAndRegister(vapidKey, token) {
  const registration = await navigator.serviceWorker.ready;
  const wanted = keyBytes(vapidKey);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, wanted)) {
    // The server's key changed: a subscription made with the old one is refused by the push service.
    await subscription.unsubscribe();
    subscription = null;
  }
  if (!subscription) {
    subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: wanted });
  }
  await putJson("devices/self/push", { webpush: subscription.toJSON() }, { token });
  return PushState.ACTIVE;
}

/** From a click: ask for permission, subscribe, register. Returns {state, message?}. */
export async function activate({ vapidKey, token }) {
  const first = initialState(vapidKey);
  if (first === PushState.UNSUPPORTED || first === PushState.NO_KEY) return { state: first };
  try {
    const permission = await Notification.requestPermission();
    if (permission !== "granted") return { state: PushState.DENIED };
    return { state: await subscribeAndRegister(vapidKey, token) };
  } catch (error) {
    return { state: PushState.FAILED, message: error.message || String(error) };
  }
}

/** At start: where permission was given, (re)subscribe and re-send the subscription. */
export async function refresh({ vapidKey, token }) {
  const first = initialState(vapidKey);
  if (first !== PushState.OFF) return { state: first };
  if (Notification.permission !== "granted") return { state: PushState.OFF };
  try {
    return { state: await subscribeAndRegister(vapidKey, token) };
  } catch (error) {
    return { state: PushState.FAILED, message: error.message || String(error) };
  }
}

// The PWA's service worker (scope /). A classic script, not a module: every browser that has
// Web Push can run it.
//
// push               show the alert as a notification: tag = the alert id (an update or the
//                    end replaces it), requireInteraction, title and body as the server wrote
//                    them in the person's language (server/dispatch/messages.py); a `test`
//                    alert quietly, as its payload says. Receipts over HTTP with the device
//                    token from IndexedDB: `delivered` on arrival, `displayed` once shown.
//                    Open pages are told, so they fetch the alert at once.
// notificationclick  focus an open page and show the alert there, or open /?alert=<id>.
// pushsubscriptionchange  subscribe again and register the new subscription.
// fetch              the app shell from the network, and from the cache when the network is
//                    gone (a reload offline shows the app and its "Ingen anslutning" banner,
//                    not a browser error). The API and the WebSocket are never cached.

const SHELL_CACHE = "pdv-alert-shell-v1";
const NETWORK_TIMEOUT_MS = 4000; // a hanging network ("lie-fi") falls back to the cache
const SHELL = [
  "/",
  "/manifest.webmanifest",
  "/static/protocol.js",
  "/static/css/base.css",
  "/static/css/pwa.css",
  "/static/js/shared/api.js",
  "/static/js/shared/i18n.js",
  "/static/js/shared/live.js",
  "/static/js/shared/login.js",
  "/static/js/pwa/alarm.js",
  "/static/js/pwa/alert-view.js",
  "/static/js/pwa/device.js",
  "/static/js/pwa/dom.js",
  "/static/js/pwa/enroll-view.js",
  "/static/js/pwa/help-view.js",
  "/static/js/pwa/home-view.js",
  "/static/js/pwa/main.js",
  "/static/js/pwa/push.js",
  "/static/js/pwa/receiver.js",
  "/static/js/pwa/texts.js",
  "/static/js/pwa/trigger.js",
  "/static/icons/icon.svg",
  "/static/icons/icon-192.png",
  "/static/icons/icon-512.png",
  "/static/icons/icon-maskable-512.png",
];
const APP_PAGES = new Set(["/", "/enroll"]);

// The device record the page keeps (js/pwa/device.js: DB_NAME, STORE, KEY).
const DB_NAME = "pdv-alert";
const STORE = "kv";
const KEY = "self";

// Precached from the browser's HTTP cache where the page just loaded the same files
// (force-cache: no second download on the first visit); every online start then refreshes
// the cached copies network-first, so the offline copy is at most one start old.
self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL.map((path) => new Request(path, { cache: "force-cache" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((name) => name.startsWith("pdv-alert-shell-") && name !== SHELL_CACHE).map((name) => caches.delete(name))))
      .then(() => self.clients.claim()),
  );
});

// ── the offline shell ─────────────────────────────────────────────────────────────────────

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

async function networkFirst(request, cacheKey) {
  const cache = await caches.open(SHELL_CACHE);
  try {
    const response = await withTimeout(fetch(request), NETWORK_TIMEOUT_MS);
    if (response.ok) await cache.put(cacheKey, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(cacheKey);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // Every page of the app is the same shell; other pages (the dashboard) are not ours.
    if (APP_PAGES.has(url.pathname)) event.respondWith(networkFirst(request, "/"));
    return;
  }
  if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(networkFirst(request, url.pathname));
  }
});

// ── the device ────────────────────────────────────────────────────────────────────────────

function readDevice() {
  return new Promise((resolve) => {
    let request;
    try {
      request = indexedDB.open(DB_NAME, 1);
    } catch {
      resolve(null);
      return;
    }
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onerror = () => resolve(null);
    request.onsuccess = () => {
      const db = request.result;
      try {
        const get = db.transaction(STORE, "readonly").objectStore(STORE).get(KEY);
        get.onsuccess = () => {
          db.close();
          resolve(get.result?.token ? get.result : null);
        };
        get.onerror = () => {
          db.close();
          resolve(null);
        };
      } catch {
        db.close();
        resolve(null);
      }
    };
  });
}

async function sendReceipt(device, payload, state) {
  if (!device) return;
  try {
    await fetch(`/api/v1/alerts/${payload.alert_id}/receipts`, {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${device.token}` },
      body: JSON.stringify({ seq: payload.seq, state }),
    });
  } catch {
    // offline: the page's socket re-sends receipts after its next welcome
  }
}

// ── push ──────────────────────────────────────────────────────────────────────────────────

function readPayload(data) {
  try {
    const payload = data?.json();
    if (payload && Number.isInteger(payload.alert_id) && Number.isInteger(payload.seq)) return payload;
  } catch {
    // not JSON: shown as a plain alert below
  }
  return null;
}

/** The notification of a push payload (server/dispatch/messages.py): {title, options}. */
function notificationOf(payload, device) {
  const test = payload.mode === "test";
  const sites = Array.isArray(payload.sites) && payload.sites.length ? `\n${payload.sites.join(", ")}` : "";
  return {
    title: payload.title || "PDV-larm",
    options: {
      body: `${payload.body || ""}${sites}`,
      tag: String(payload.alert_id),
      renotify: !test,
      requireInteraction: !test,
      silent: test || Boolean(device?.silent),
      icon: "/static/icons/icon-192.png",
      badge: "/static/icons/icon-192.png",
      timestamp: Date.now(),
      data: { alert_id: payload.alert_id, seq: payload.seq, url: payload.url || `/?alert=${payload.alert_id}` },
    },
  };
}

async function tellPages(message) {
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const page of pages) page.postMessage(message);
}

async function onPush(event) {
  const payload = readPayload(event.data);
  if (payload === null) {
    // Something arrived that we cannot read: still show that something happened.
    await self.registration.showNotification("PDV-larm", { body: "Öppna appen. (Open the app.)", tag: "pdv-alert", requireInteraction: true });
    return;
  }
  const device = await readDevice();
  const delivered = sendReceipt(device, payload, "delivered");
  const { title, options } = notificationOf(payload, device);
  await self.registration.showNotification(title, options);
  await delivered;
  await Promise.all([
    payload.mode === "test" ? null : sendReceipt(device, payload, "displayed"),
    tellPages({ type: "push", alert_id: payload.alert_id, seq: payload.seq }),
  ]);
}

self.addEventListener("push", (event) => event.waitUntil(onPush(event)));

// ── notificationclick ─────────────────────────────────────────────────────────────────────

async function openAlert(data) {
  const url = new URL(data?.url || "/", self.location.origin);
  if (url.origin !== self.location.origin) url.href = new URL(`/?alert=${data?.alert_id ?? ""}`, self.location.origin).href;
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const page = pages.find((client) => new URL(client.url).origin === self.location.origin);
  if (page) {
    page.postMessage({ type: "open-alert", alert_id: data?.alert_id });
    try {
      await page.focus();
    } catch {
      // focusing needs the click's user activation; the page shows the alert either way
    }
    return page;
  }
  return self.clients.openWindow(url.href);
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openAlert(event.notification.data));
});

// ── a changed subscription ────────────────────────────────────────────────────────────────

async function resubscribe(event) {
  const device = await readDevice();
  const options = event.oldSubscription?.options;
  if (!device || !options?.applicationServerKey) return;
  const subscription = event.newSubscription ?? (await self.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: options.applicationServerKey }));
  await fetch("/api/v1/devices/self/push", {
    method: "PUT",
    credentials: "omit",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${device.token}` },
    body: JSON.stringify({ webpush: subscription.toJSON() }),
  });
}

self.addEventListener("pushsubscriptionchange", (event) => event.waitUntil(resubscribe(event)));

// The service worker: not built yet (issue 10).
self.addEventListener("install", () => self.skipWaiting());

// The service worker (issue 24, "installable on a phone"): it keeps the app shell (the page,
// its scripts, stylesheet, icons and manifest) so that the app opens without a connection.
// It never touches the API: /api/ requests go to the network as if it were not here, so no
// answer for one person is ever kept or served by it. The copies of reports a signed-in
// reader viewed are kept by the page itself, per reader (assets/offline.js).
//
// Network first: the files have no hashed names (no build step), so online the reader
// always gets the current ones (and the cache is refreshed with them); offline, the copy.

const SHELL_CACHE = "pp-shell-v2";
// The files kept at install, so the app opens offline after one visit: every file under
// web/ but this one and README.md, and at least every module the page loads at start and
// both languages' catalogues (tests/unit/test_web_app_install.py). A file missing here is still kept once fetched.
const SHELL = [
  "/index.html",
  "/manifest.webmanifest",
  "/assets/admin.js",
  "/assets/api.js",
  "/assets/app.js",
  "/assets/chart.js",
  "/assets/children.js",
  "/assets/dom.js",
  "/assets/favicon.svg",
  "/assets/i18n.js",
  "/assets/i18n/cy.json",
  "/assets/i18n/en.json",
  "/assets/icons/icon-192.png",
  "/assets/icons/icon-512.png",
  "/assets/offline.js",
  "/assets/operator.js",
  "/assets/passkeys.js",
  "/assets/people.js",
  "/assets/progress.js",
  "/assets/report-view.js",
  "/assets/schools.js",
  "/assets/second-factor.js",
  "/assets/styles.css",
  "/assets/two-step.js",
  "/assets/ui.js",
];
// Paths that are the API's, never the app's (shared/webapp.py API_PREFIXES).
const NOT_APP = ["/api", "/.well-known", "/openapi", "/asyncapi", "/healthz", "/readyz",
                 "/metrics"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE)
    .then((cache) => cache.addAll(SHELL.map((path) => new Request(path, { cache: "no-cache" }))))
    .then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  // Earlier versions of the shell go; the readers' copies (pp-reader-…) are the page's.
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((key) => key.startsWith("pp-shell-") && key !== SHELL_CACHE)
      .map((key) => caches.delete(key))))
    .then(() => self.clients.claim()));
});

function isApp(url) {
  return url.origin === self.location.origin
    && !NOT_APP.some((prefix) => url.pathname === prefix || url.pathname.startsWith(`${prefix}/`));
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || !isApp(url)) return; // the network, untouched
  // A file of the app by its path (one not in SHELL yet is kept once fetched); any other
  // screen's address is the page (the app routes in the browser).
  const key = SHELL.includes(url.pathname) || url.pathname.startsWith("/assets/") ? url.pathname
    : request.mode === "navigate" ? "/index.html" : null;
  if (!key) return;
  event.respondWith((async () => {
    try {
      const response = await fetch(request);
      if (response.ok) {
        const copy = response.clone();
        event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.put(key, copy)));
      }
      return response;
    } catch (error) {
      const cached = await caches.match(key, { cacheName: SHELL_CACHE });
      if (cached) return cached;
      throw error;
    }
  })());
});

// Reading without a connection (issue 24): the reports a signed-in parent or student viewed
// are kept on the device, so they reopen offline, marked as copies ("You are offline —
// showing the copy saved on <date>"). Kept in Cache Storage, one cache per reader
// ("pp-reader-<account id>"), never in IndexedDB or localStorage:
// - this tab opens only the cache of the reader signed in here (sessionStorage "pp.reader",
//   set from GET /api/v1/me, gone with the tab as the refresh token is);
// - a sign-in deletes every other reader's cache on the device, so a copy is never there
//   for the next person to sign in on the same browser;
// - signing out, or the sign-in ending (a 401), deletes every reader's cache.
// The service worker (/sw.js) keeps only the app's files, never an API answer.

const PREFIX = "pp-reader-";
const READER_KEY = "pp.reader";
const KEEP = 10; // reports kept per reader, the most recently viewed
const INDEX = "/offline/index";

const available = () => typeof caches !== "undefined";

function cacheName(accountId) {
  return PREFIX + accountId;
}

function storedReader() {
  try {
    return sessionStorage.getItem(READER_KEY);
  } catch {
    return null;
  }
}

async function readerCaches() {
  if (!available()) return [];
  return (await caches.keys()).filter((key) => key.startsWith(PREFIX));
}

async function read(cache, key) {
  const response = await cache.match(key);
  return response ? response.json() : null;
}

function write(cache, key, value) {
  return cache.put(key, new Response(JSON.stringify(value),
                                     { headers: { "Content-Type": "application/json" } }));
}

/** The reader signed in here (GET /api/v1/me): only their copies may be opened, every
 *  other reader's are deleted; a parent's or student's `me` is kept for reading offline. */
export async function keepFor(me) {
  try {
    sessionStorage.setItem(READER_KEY, me.id);
  } catch {
    // no storage: nothing opens offline
  }
  if (!available()) return;
  try {
    const mine = cacheName(me.id);
    await Promise.all((await readerCaches()).filter((key) => key !== mine)
      .map((key) => caches.delete(key)));
    if (me.role === "parent" || me.role === "student") {
      await write(await caches.open(mine), "/offline/me", me);
    } else {
      await caches.delete(mine); // staff consoles keep nothing on the device
    }
  } catch {
    // storage full or refused: the app works, without offline copies
  }
}

/** Offline: who was signed in in this tab (their `me` as last saved), or null. */
export async function savedReader() {
  const id = storedReader();
  if (!id || !available() || !(await caches.has(cacheName(id)))) return null;
  const me = await read(await caches.open(cacheName(id)), "/offline/me");
  return me && me.id === id ? me : null;
}

/** Keep a copy of a report as it was shown ({report, progress, …}), for the reader here. */
export async function saveReport(reportId, copy) {
  const id = storedReader();
  if (!id || !available()) return;
  try {
    const cache = await caches.open(cacheName(id));
    const savedAt = new Date().toISOString();
    await write(cache, `/offline/reports/${reportId}`, { saved_at: savedAt, ...copy });
    const index = ((await read(cache, INDEX)) || []).filter((entry) => entry.id !== reportId);
    index.unshift({ id: reportId, title: copy.report.title, period: copy.report.period,
                    student: (copy.report.student || {}).name || "", saved_at: savedAt });
    await Promise.all(index.slice(KEEP).map((entry) => cache.delete(`/offline/reports/${entry.id}`)));
    await write(cache, INDEX, index.slice(0, KEEP));
  } catch {
    // storage full or refused: this report does not open offline
  }
}

/** The copy of a report kept for the reader here, or null. */
export async function savedReport(reportId) {
  const id = storedReader();
  if (!id || !available() || !(await caches.has(cacheName(id)))) return null;
  return read(await caches.open(cacheName(id)), `/offline/reports/${reportId}`);
}

/** The reports kept for the reader here, the most recently viewed first. */
export async function savedReports() {
  const id = storedReader();
  if (!id || !available() || !(await caches.has(cacheName(id)))) return [];
  return (await read(await caches.open(cacheName(id)), INDEX)) || [];
}

/** Signing out (or the sign-in ended): every reader's copies leave the device. */
export async function forgetAll() {
  try {
    sessionStorage.removeItem(READER_KEY);
  } catch {
    // nothing stored
  }
  try {
    await Promise.all((await readerCaches()).map((key) => caches.delete(key)));
  } catch {
    // no Cache Storage: nothing was kept
  }
}

/** The service worker that keeps the app's files (not when the browser has none). */
export function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    // no offline shell (a private window may refuse it): the app works online
  });
}

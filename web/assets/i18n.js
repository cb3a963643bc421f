// Cymraeg and English (issue 29): every word the app shows comes from one catalogue per
// language, web/assets/i18n/en.json and cy.json, fetched at start (no build step). A key is
// the English text itself (gettext's way, as the Python side's Babel catalogues): t() looks
// it up in the reader's language. {name} marks a value put in; a text whose form depends on
// a number is an object of the language's plural categories (Intl.PluralRules: Welsh has
// zero, one, two, few, many and other). Dates are written by Intl.DateTimeFormat in the
// language (dom.js formatDate). tests/unit/test_web_catalogues.py checks that both
// catalogues have the same keys and placeholders, and that no text is written outside them.

export const LANGUAGES = ["cy", "en"];
const STORAGE_KEY = "pp.language"; // before sign-in; signed in, GET/PATCH /api/v1/me
const LOCALES = { en: "en-GB", cy: "cy" };

let language = "en";
let catalogue = {};
const listeners = [];
const collators = {};

/** The key itself, marked for the catalogues: a constant's text, translated where used. */
export const N_ = (key) => key;

export function currentLanguage() {
  return language;
}

/** The locale for Intl (dates, plural rules, sorting): "cy" or "en-GB". */
export function locale(code = language) {
  return LOCALES[code] || LOCALES.en;
}

function pick(entry, params) {
  if (typeof entry === "string") return entry;
  const count = Number(params.count);
  // Welsh writes "0" with the "zero" form; Intl names the category of each number.
  const category = new Intl.PluralRules(locale()).select(count);
  return entry[category] ?? entry.other;
}

function fill(text, params) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** The text of `key` in the reader's language, with {placeholders} filled from `params`. */
export function t(key, params = {}) {
  const entry = catalogue[key] ?? key;
  return fill(pick(entry, params), params);
}

/** Whether the catalogue of the reader's language has `key`. */
export function hasText(key) {
  return key in catalogue;
}

/** As t(), for a sentence with elements in it (a link, a name in bold): the parts as an
 *  array of strings and the nodes given in `params`, ready for h(). */
export function tParts(key, params = {}) {
  const text = pick(catalogue[key] ?? key, params);
  return text.split(/(\{\w+\})/).filter((part) => part !== "").map((part) => {
    const match = part.match(/^\{(\w+)\}$/);
    if (!match || !(match[1] in params)) return part;
    const value = params[match[1]];
    return value instanceof Node || Array.isArray(value) ? value : String(value);
  });
}

async function fetchCatalogue(code) {
  const response = await fetch(`/assets/i18n/${code}.json`);
  if (!response.ok) throw new Error(`catalogue ${code}: ${response.status}`);
  return response.json();
}

/** The language kept on this device (before sign-in), else the browser's if Welsh. */
export function preferredLanguage() {
  try {
    const kept = localStorage.getItem(STORAGE_KEY);
    if (LANGUAGES.includes(kept)) return kept;
  } catch {
    // storage disabled: the browser's languages decide
  }
  return (navigator.languages || [navigator.language || ""])
    .some((tag) => /^cy\b/i.test(tag)) ? "cy" : "en";
}

/** Loads the catalogue of `code`, sets <html lang> and keeps the choice on this device. */
export async function useLanguage(code) {
  const chosen = LANGUAGES.includes(code) ? code : "en";
  catalogue = await fetchCatalogue(chosen);
  language = chosen;
  document.documentElement.lang = locale(chosen);
  try {
    localStorage.setItem(STORAGE_KEY, chosen);
  } catch {
    // kept for this page only
  }
  listeners.forEach((listener) => listener(chosen));
  return chosen;
}

// The Welsh alphabet's order, for a browser without Welsh collation data (Debian's chromium,
// as for dates): its digraphs are letters of their own ("ll" after "l"), the letters Welsh
// borrows (k, q, v, x, z) in their Latin place; as CLDR's "cy" collation orders them.
const WELSH_LETTERS = ["a", "b", "c", "ch", "d", "dd", "e", "f", "ff", "g", "ng", "h", "i", "j",
  "k", "l", "ll", "m", "n", "o", "p", "ph", "q", "r", "rh", "s", "t", "th", "u", "v", "w", "x",
  "y", "z"];
const WELSH_RANK = new Map(WELSH_LETTERS.map((letter, index) => [letter, index]));
const WELSH_TOKEN = /\d+|ch|dd|ff|ng|ll|ph|rh|th|[\s\S]/g;

function welshTokens(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().match(WELSH_TOKEN) || [];
}

/** As Intl.Collator("cy", {sensitivity: "base", numeric: true}).compare: case and accents
 *  aside, numbers by their value, letters after digits after anything else. */
function compareWelsh(a, b) {
  const x = welshTokens(a);
  const y = welshTokens(b);
  const kind = (token) => (WELSH_RANK.has(token) ? 2 : /^\d/.test(token) ? 1 : 0);
  for (let i = 0; i < Math.min(x.length, y.length); i += 1) {
    const [p, q] = [x[i], y[i]];
    if (p === q) continue;
    if (kind(p) !== kind(q)) return kind(p) < kind(q) ? -1 : 1;
    if (kind(p) === 2) return WELSH_RANK.get(p) < WELSH_RANK.get(q) ? -1 : 1;
    if (kind(p) === 1 && Number(p) !== Number(q)) return Number(p) < Number(q) ? -1 : 1;
    if (kind(p) !== 1) return p < q ? -1 : 1;
  }
  return Math.sign(x.length - y.length);
}

/** Two names compared as a reader of the language sorts them, case and accents aside and
 *  "Sam 2" before "Sam 10": Intl.Collator of the language, so Welsh puts "Ll" after "Lo"
 *  and "Ch" after "Cy" (its alphabet's digraphs), or the Welsh alphabet's order where the
 *  browser has no Welsh collation. The app's one way of sorting names (children.js). */
export function compareNames(a, b) {
  if (!collators[language]) {
    collators[language] = Intl.Collator.supportedLocalesOf([locale()]).length || language === "en"
      ? new Intl.Collator(locale(), { sensitivity: "base", numeric: true }).compare
      : compareWelsh;
  }
  return collators[language](a, b);
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}

/** A constant table of texts ({code: N_("English")}): each read gives the text in the
 *  reader's language at that moment, so a switch of language is followed at once. */
export function texts(table) {
  return new Proxy(table, {
    get: (target, key) => (typeof target[key] === "string" ? t(target[key]) : target[key]),
  });
}

const MONTHS = [N_("January"), N_("February"), N_("March"), N_("April"), N_("May"), N_("June"),
                N_("July"), N_("August"), N_("September"), N_("October"), N_("November"),
                N_("December")];

/** "6 December 2026" ("6 Rhagfyr 2026"), with `time` "… at 18:19" ("… am 18:19"): by
 *  Intl.DateTimeFormat in the language; a browser built without the language's date data
 *  (Debian's chromium has no "cy" for dates, though it has its plural rules) gets the
 *  numbers from Intl and the month's name from the catalogue. */
export function formatDateIn(date, { time = false, timeZone } = {}) {
  const options = { day: "numeric", month: "long", year: "numeric", timeZone,
                    ...(time ? { hour: "2-digit", minute: "2-digit" } : {}) };
  if (Intl.DateTimeFormat.supportedLocalesOf([locale()]).length) {
    return new Intl.DateTimeFormat(locale(), options).format(date);
  }
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", { ...options, month: "numeric",
    hourCycle: "h23" }).formatToParts(date).map((part) => [part.type, part.value]));
  const day = `${Number(parts.day)} ${t(MONTHS[Number(parts.month) - 1])} ${parts.year}`;
  return time ? t("{date} at {time}", { date: day, time: `${parts.hour}:${parts.minute}` }) : day;
}

// The pieces every screen shares (parents' and students' in app.js, the school admin's in
// admin.js, the operator's in operator.js): the live-region messages, putting a screen in
// <main>, form fields with their errors, navigation, paging through a list.

import * as api from "./api.js";
import { h, uniqueId } from "./dom.js";
import { formatDateIn, hasText, N_, t, texts } from "./i18n.js";

// The parts of a date, as a message names them ("The day must be a number").
const PART_TEXT = texts({ day: N_("day"), month: N_("month"), year: N_("year") });
const NOT_A_NUMBER = { day: N_("The day must be a number, {example}."),
                       month: N_("The month must be a number, {example}."),
                       year: N_("The year must be a number, {example}.") };

const main = document.getElementById("main");
const statusRegion = document.getElementById("status");
const alertRegion = document.getElementById("alert");
const busyRegion = document.getElementById("page-loading");

/** The signed-in reader (GET /api/v1/me), kept by app.js for the consoles. */
export const session = { me: null };

let rendered = false; // the first screen keeps the focus where the browser put it
let leaving = false; // the messages shown are about the screen being left (leaveMessages)
let renderer = async () => {};
let surroundings = () => {}; // what surrounds every screen (app.js: navigation, footer)

// --- messages ------------------------------------------------------------------------------

/** Says `text` in a live region, at once: in the same task as the screen it goes with, so
 *  both are drawn in the same frame. A message put in later (it was, 50 ms later) pushes the
 *  screen down under a finger already on its way: the tap lands on what was above (the
 *  "Reports for <child>" link right after signing in). The same text again is a fresh node a
 *  moment later, put in without emptying the region (an empty one takes no room), so it is
 *  read twice and nothing moves. */
function say(region, other, text) {
  leaving = false;
  other.textContent = "";
  if (region.textContent !== text) {
    region.textContent = text;
    return;
  }
  window.setTimeout(() => {
    if (region.textContent === text) region.replaceChildren(document.createTextNode(text));
  }, 50);
}

export function announce(text) {
  say(statusRegion, alertRegion, text);
}

export function announceError(text) {
  say(alertRegion, statusRegion, text);
}

export function clearMessages() {
  leaving = false;
  statusRegion.textContent = "";
  alertRegion.textContent = "";
}

/** A link followed: the messages about this screen go when the next one is drawn, in the
 *  same frame (show()), not at once: that moved this screen up under a second tap. */
export function leaveMessages() {
  leaving = true;
}

/** "3 days": `word` ("day") names the plural text "{count} day" of the catalogues;
 *  a word not (yet) in them is written in English. */
export function plural(count, word) {
  const key = `{count} ${word}`;
  return hasText(key) ? t(key, { count }) : `${count} ${word}${count === 1 ? "" : "s"}`;
}

// --- navigation ----------------------------------------------------------------------------

/** app.js registers the function that draws the screen for the current address, and the
 *  one that draws what surrounds every screen: called by show(), so that it changes in the
 *  same frame as the screen, never under the screen being left. */
export function setRenderer(render, drawSurroundings) {
  renderer = render;
  surroundings = drawSurroundings;
}

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  return renderer();
}

/** Put a screen in <main>: its heading takes the focus after a navigation. */
export function show(title, ...content) {
  const heading = h("h1", { tabindex: "-1", id: "page-heading" }, title);
  if (leaving) clearMessages();
  surroundings();
  main.replaceChildren(heading, ...content.flat(Infinity)
    .filter((part) => part !== null && part !== undefined && part !== false));
  loaded();
  document.title = t("{title} – Pupil Progress", { title });
  if (rendered) heading.focus();
  rendered = true;
}

/** A screen is fetching what it shows: <main> is aria-busy and the "Loading…" status shows
 *  (after a moment, styles.css: a fast answer does not flash it) until the screen is drawn. */
export function loading() {
  main.setAttribute("aria-busy", "true");
  busyRegion.hidden = false;
}

export function loaded() {
  main.removeAttribute("aria-busy");
  busyRegion.hidden = true;
}

export function notFound() {
  show(t("Page not found"), h("p", {}, t("There is nothing at this address.")),
    h("p", {}, h("a", { href: "/" }, t("Go to the start"))));
}

// --- forms ---------------------------------------------------------------------------------

export function field({ label, type = "text", name, autocomplete, hint, required = true,
                        attrs = {}, multiline = false }) {
  const id = uniqueId(name);
  const hintId = hint ? `${id}-hint` : null;
  const errorId = `${id}-error`;
  const input = multiline
    ? h("textarea", { id, name, autocomplete, required, "aria-describedby": hintId || false,
                      ...attrs })
    : h("input", { id, name, type, autocomplete, required,
                   "aria-describedby": hintId || false, ...attrs });
  const error = h("p", { id: errorId, class: "field-error", hidden: true });
  const wrapper = h("div", { class: "field" },
    h("label", { for: id }, label),
    hint ? h("p", { id: hintId, class: "hint" }, hint) : null,
    error, input);
  return {
    wrapper,
    input,
    setError(message) {
      if (message) {
        error.textContent = message;
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
      } else {
        error.textContent = "";
        error.hidden = true;
        input.removeAttribute("aria-invalid");
        if (hintId) input.setAttribute("aria-describedby", hintId);
        else input.removeAttribute("aria-describedby");
      }
    },
  };
}

/** A date as three fields, day, month and year (the GOV.UK date input pattern): their order
 *  is written on the page, never taken from the browser's locale as a date picker's is.
 *  `read()` answers {date: "YYYY-MM-DD"} or {error, part}: the message says what is
 *  expected, and `part` the field (or fields) to fix. */
export function dateField({ legend, name, hint, noun = legend.toLowerCase(),
                            past = false }) {
  const id = uniqueId(name);
  const hintId = `${id}-hint`;
  const errorId = `${id}-error`;
  const example = t("for example, 27 3 2014");
  const parts = [["day", t("Day"), 2], ["month", t("Month"), 2], ["year", t("Year"), 4]].map(
    ([part, label, size]) => {
      const input = h("input", { id: `${id}-${part}`, name: `${name}-${part}`, type: "text",
                                 inputmode: "numeric", autocomplete: "off", spellcheck: "false",
                                 class: `date-input__input date-input__input--${size}`,
                                 maxlength: size });
      return { part, input, item: h("div", { class: "date-input__item" },
        h("label", { for: input.id }, label), input) };
    });
  // Shown once, here; role=alert reads it out as it appears.
  const error = h("p", { id: errorId, class: "field-error", role: "alert", hidden: true });
  const fieldset = h("fieldset", { class: "field date-input", "aria-describedby": hintId },
    h("legend", {}, legend),
    h("p", { id: hintId, class: "hint" }, [hint, t("Day, month and year, {example}.", { example })]
      .filter(Boolean).join(" ")),
    error, h("div", { class: "date-input__parts" }, parts.map((p) => p.item)));
  const byPart = Object.fromEntries(parts.map((p) => [p.part, p.input]));
  const setError = (message, part) => {
    error.textContent = message || "";
    error.hidden = !message;
    fieldset.setAttribute("aria-describedby", message ? `${hintId} ${errorId}` : hintId);
    parts.forEach((p) => {
      if (message && (!part || [].concat(part).includes(p.part))) {
        p.input.setAttribute("aria-invalid", "true");
        p.input.setAttribute("aria-describedby", errorId);
      } else {
        p.input.removeAttribute("aria-invalid");
        p.input.removeAttribute("aria-describedby");
      }
    });
  };
  const read = () => {
    const raw = Object.fromEntries(parts.map((p) => [p.part, p.input.value.trim()]));
    const missing = parts.filter((p) => !raw[p.part]).map((p) => p.part);
    if (missing.length === 3) return { error: t("Enter the {noun}, {example}.", { noun, example }), part: "day" };
    if (missing.length) {
      return { error: t("The {noun} must include a {parts}.", { noun, parts: missing.map((p) => PART_TEXT[p]).join(t(" and a ")) }), part: missing };
    }
    const bad = parts.find((p) => !/^\d+$/.test(raw[p.part]));
    if (bad) return { error: t(NOT_A_NUMBER[bad.part], { example }), part: bad.part };
    if (raw.year.length !== 4) return { error: t("The year must have 4 numbers, for example 2014."), part: "year" };
    const [day, month, year] = [Number(raw.day), Number(raw.month), Number(raw.year)];
    if (month < 1 || month > 12) return { error: t("The month must be from 1 to 12, {example}.", { example }), part: "month" };
    const date = new Date(Date.UTC(year, month - 1, day));
    if (day < 1 || date.getUTCDate() !== day) {
      return { error: t("The {noun} must be a real date: that month has no day {day}.", { noun, day }), part: "day" };
    }
    if (past && date > new Date()) return { error: t("The {noun} must be in the past.", { noun }), part: "year" };
    return { date: date.toISOString().slice(0, 10) };
  };
  return { wrapper: fieldset, setError, read,
           focus: (part = "day") => byPart[[].concat(part)[0]].focus() };
}

/** A labelled checkbox, with an optional hint under it. */
export function checkbox(label, checked, hint) {
  const id = uniqueId("checkbox");
  const hintId = hint ? `${id}-hint` : null;
  const input = h("input", { type: "checkbox", id, checked, "aria-describedby": hintId || false });
  return {
    input,
    wrapper: h("div", { class: "checkbox-field" },
      h("div", { class: "checkbox" }, input, h("label", { for: id }, label)),
      hint ? h("p", { id: hintId, class: "hint" }, hint) : null),
  };
}

export function form(onSubmit, ...children) {
  const element = h("form", { novalidate: true }, ...children);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const buttons = element.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await onSubmit(event);
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  return element;
}

export function button(label, attrs = {}) {
  return h("button", { type: "submit", class: "button", ...attrs }, label);
}

/** What a 423 means, leading into "please contact <the school, with its office's email and
 *  phone>" (schools.js contactSentence), or into "please contact the school." */
export function lockedLead(error) {
  return error.code === "link_locked"
    ? t("This link is locked after 3 wrong answers. Only the school can unlock it:")
    : t("The school has paused the use of this information for now. If you have a question,");
}

export function explainError(error) {
  if (error.status === 423) return t("{lead} please contact the school.", { lead: lockedLead(error) });
  if (error.status === 429) return t("Too many attempts: please wait a little and try again.");
  if (error.code === "step_up_required") return t("This needs your authenticator code again: try again and enter it.");
  if (error.status === 404) return t("This is not available. It may have been removed.");
  return error.message;
}

// --- data ----------------------------------------------------------------------------------

export async function allPages(path, bound = 20) {
  const items = [];
  let after = null;
  for (let page = 0; page < bound; page += 1) {
    const separator = path.includes("?") ? "&" : "?";
    const answer = await api.call("GET", after ? `${path}${separator}after=${encodeURIComponent(after)}` : path);
    items.push(...(answer.items || []));
    if (!answer.next) break;
    after = answer.next;
  }
  return items;
}

/** Save a response's body as a file: a link to it, clicked, then released. */
export async function saveDownload(response, fallbackName) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = disposition.match(/filename="([^"]+)"/);
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: match ? match[1] : fallbackName, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export const sleep = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });

/** "29 November 2026, 14:05" in the reader's time zone (when something happened). */
export function formatDateTime(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return formatDateIn(date, { time: true });
}

/** A labelled <select>: options are [value, text]. */
export function selectField({ label, name, options, value, hint }) {
  const id = uniqueId(name);
  const hintId = hint ? `${id}-hint` : null;
  const select = h("select", { id, name, "aria-describedby": hintId || false },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)));
  const wrapper = h("div", { class: "field" }, h("label", { for: id }, label),
    hint ? h("p", { id: hintId, class: "hint" }, hint) : null, select);
  return { wrapper, input: select };
}

/** The services, as people call them (request progress, offboarding progress). */
export const SERVICE_TEXT = texts({
  identity: N_("Accounts and sign-in"),
  ingest: N_("Data received from the school"),
  linking: N_("Parent and child links"),
  reports: N_("Reports"),
  notifications: N_("Emails"),
  dsar: N_("Requests about personal data"),
});
export const PROGRESS_TEXT = texts({ pending: N_("Not answered yet"), done: N_("Done"), failed: N_("Failed") });

/** Terms and their values as a description list; a falsy row is left out. */
export function summary(rows) {
  return h("dl", { class: "summary" },
    rows.filter(Boolean).map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

// A table wider than the screen (a phone) scrolls sideways in its box; the box then takes
// the focus, so the keyboard can scroll it too (WCAG 2.1.1), and is named after its table.
const scrollWatch = new ResizeObserver((entries) => {
  for (const { target } of entries) {
    if (target.scrollWidth > target.clientWidth + 1) {
      target.setAttribute("tabindex", "0");
      target.setAttribute("role", "region");
      target.setAttribute("aria-label", t("{caption} (scrolls sideways)", { caption: target.dataset.caption }));
    } else {
      ["tabindex", "role", "aria-label"].forEach((name) => target.removeAttribute(name));
    }
  }
});

/** Boxes drawn elsewhere (a report's tables and chart) get the same keyboard access when
 * they scroll sideways: named after their table's caption, or `fallback`. */
export function watchScrolling(root, fallback) {
  root.querySelectorAll(".table-scroll, .chart-scroll").forEach((box) => {
    const caption = box.querySelector("caption");
    box.dataset.caption = caption ? caption.textContent : fallback;
    scrollWatch.observe(box);
  });
}

/** A captioned data table in its sideways-scrolling box. `body`: the rows, or a <tbody>
 * the caller keeps to redraw. */
export function table(caption, headings, body, attrs = {}) {
  const box = h("div", { class: "table-scroll", dataset: { caption }, ...attrs },
    h("table", { class: "data-table" },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headings.map((text) => h("th", { scope: "col" }, text)))),
      body instanceof HTMLTableSectionElement ? body : h("tbody", {}, body)));
  scrollWatch.observe(box);
  return box;
}

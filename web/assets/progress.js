// Progress over the school year (issue 24): each subject's grade against its target in
// every published report (a chart and its table), what changed since the last report, and
// attendance as a percentage. GET /api/v1/students/<id>/progress. Standing is said in
// words ("Below target"), never by colour alone.

import * as api from "./api.js";
import { N_, t, texts } from "./i18n.js";
import { h, svg, uniqueId } from "./dom.js";
import { table } from "./ui.js";

export const STANDING_TEXT = texts({ below: N_("Below target"), on: N_("On target"), above: N_("Above target") });
export const CHANGE_TEXT = texts({ up: N_("up"), down: N_("down"), same: N_("no change"), changed: N_("changed") });
const COLOURS = ["#0b4f8a", "#8a3b00", "#2d6a2d", "#6a2d6a", "#4d4d00", "#00606a"];

export function loadProgress(studentId) {
  return api.call("GET", `/api/v1/students/${encodeURIComponent(studentId)}/progress`);
}

export function percent(value) {
  const number = Number(value);
  return value === null || value === undefined || !Number.isFinite(number) ? "—" : `${number}%`;
}

export const KIND_TEXT = texts({ attitude: N_("Attitude"), effort: N_("Effort"), behaviour: N_("Behaviour") });

function changeLine(what, change, unit = "") {
  return change.direction === "same"
    ? t("{what}: no change ({after})", { what, after: `${change.after}${unit}` })
    : t("{what}: {change} from {before} to {after}", { what, change: CHANGE_TEXT[change.direction], before: `${change.before}${unit}`, after: `${change.after}${unit}` });
}

function characteristicName(c) {
  return c.subject === "General" ? KIND_TEXT[c.kind] || c.kind
    : t("{kind} in {subject}", { kind: KIND_TEXT[c.kind] || c.kind, subject: c.subject });
}

/** "Maths: up from 5 to 6" for each subject that has a change since the last report, then
 *  attendance and each characteristic ("Effort in Maths: changed from Good to Excellent");
 *  `glance` (the parent's home): only the characteristics that changed. */
export function changeLines(progress, { glance = false } = {}) {
  const lines = progress.subjects.filter((s) => s.change && s.change.direction)
    .map((s) => changeLine(s.subject, s.change));
  const [before, after] = progress.periods.slice(-2).map((p) => p.attendance);
  if (progress.periods.length > 1 && Number.isFinite(before) && Number.isFinite(after)) {
    lines.push(changeLine(t("Attendance"), { before, after,
      direction: after > before ? "up" : after < before ? "down" : "same" }, "%"));
  }
  return lines.concat((progress.characteristics || [])
    .filter((c) => c.change && c.change.direction && !(glance && c.change.direction === "same"))
    .map((c) => changeLine(characteristicName(c), c.change)));
}

function pointText(point) {
  if (!point || point.grade === null || point.grade === undefined) return "—";
  const target = point.target !== null && point.target !== undefined ? t(" (target {target})", { target: point.target }) : "";
  const standing = point.standing ? `: ${STANDING_TEXT[point.standing]}` : "";
  return `${point.grade}${target}${standing}`;
}

function chart(progress) {
  const numeric = (v) => (v === null || v === undefined ? null : Number(String(v).replace("%", "")));
  const values = progress.subjects.flatMap((s) => s.points.flatMap((p) => [numeric(p.grade), numeric(p.target)]))
    .filter((v) => v !== null && Number.isFinite(v));
  if (!values.length || progress.periods.length < 1) return null;
  const [low, high] = [Math.floor(Math.min(...values)) - 1, Math.ceil(Math.max(...values)) + 1];
  const width = 640, height = 260, left = 48, right = 72, top = 16, bottom = 40;
  const x = (i) => left + (progress.periods.length === 1 ? (width - left - right) / 2
    : (i * (width - left - right)) / (progress.periods.length - 1));
  const y = (v) => top + (high === low ? (height - top - bottom) / 2
    : ((high - v) * (height - top - bottom)) / (high - low));
  const parts = [svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, stroke: "#555" })];
  progress.periods.forEach((p, i) => parts.push(svg("text", { x: x(i), y: height - 16, "text-anchor": "middle", "font-size": "13", fill: "#1a1a1a" }, p.period)));
  [low, high].forEach((v) => parts.push(svg("text", { x: 8, y: y(v) + 4, "font-size": "13", fill: "#1a1a1a" }, String(v))));
  progress.subjects.forEach((s, n) => {
    const colour = COLOURS[n % COLOURS.length];
    const pts = s.points.map((p, i) => [i, numeric(p.grade)]).filter(([, v]) => v !== null && Number.isFinite(v));
    if (pts.length > 1) parts.push(svg("polyline", { points: pts.map(([i, v]) => `${x(i)},${y(v)}`).join(" "), fill: "none", stroke: colour, "stroke-width": "2" }));
    pts.forEach(([i, v]) => parts.push(svg("circle", { cx: x(i), cy: y(v), r: "4", fill: colour })));
    const targets = s.points.map((p, i) => [i, numeric(p.target)]).filter(([, v]) => v !== null && Number.isFinite(v));
    if (targets.length > 1) parts.push(svg("polyline", { points: targets.map(([i, v]) => `${x(i)},${y(v)}`).join(" "), fill: "none", stroke: colour, "stroke-dasharray": "4 4" }));
    const last = pts[pts.length - 1];
    if (last) parts.push(svg("text", { x: Math.min(x(last[0]) + 8, width - 90), y: y(last[1]) - 6, "font-size": "13", fill: colour }, s.subject));
  });
  const summary = progress.subjects.map((s) => `${s.subject}: ${s.points.map(pointText).join(t(", then "))}`).join(". ");
  return svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "progress-chart",
                      "aria-label": t("Grades over the school year against targets (dashed). {summary}", { summary }) }, parts);
}

function progressTable(progress) {
  const rows = progress.subjects.map((s) => h("tr", {},
    h("th", { scope: "row" }, s.class ? `${s.subject} (${s.class})` : s.subject),
    s.points.map((p) => h("td", {}, pointText(p))),
    h("td", {}, s.change && s.change.direction ? CHANGE_TEXT[s.change.direction] : "—")));
  if (progress.periods.some((p) => p.attendance !== null && p.attendance !== undefined)) {
    rows.push(h("tr", {}, h("th", { scope: "row" }, t("Attendance")),
      progress.periods.map((p) => h("td", {}, percent(p.attendance))), h("td", {}, "—")));
  }
  return table(t("Grades in each report this school year, against target"),
    [t("Subject"), ...progress.periods.map((p) => p.period), t("Since the last report")], rows);
}

function characteristicsTable(progress) {
  const items = progress.characteristics || [];
  if (!items.length) return null;
  const rows = items.map((c) => h("tr", {},
    h("th", { scope: "row" }, c.subject === "General" ? KIND_TEXT[c.kind] || c.kind
      : t("{kind} in {subject}", { kind: KIND_TEXT[c.kind] || c.kind, subject: c.class ? `${c.subject} (${c.class})` : c.subject })),
    c.points.map((p) => h("td", {}, p.value === null || p.value === undefined ? "—" : p.value)),
    h("td", {}, c.change && c.change.direction ? CHANGE_TEXT[c.change.direction] : "—")));
  return table(t("Attitude, effort and behaviour in each report this school year"),
    [t("What"), ...progress.periods.map((p) => p.period), t("Since the last report")], rows);
}

/** The report screen's section: heading, what changed, the chart and its table. */
export function progressSection(progress) {
  if (!progress || !progress.periods.length) return null;
  const headingId = uniqueId("progress");
  const changes = changeLines(progress);
  return h("section", { class: "card progress", "aria-labelledby": headingId },
    h("h2", { id: headingId }, t("Progress this school year")),
    progress.periods.length > 1
      ? [h("h3", {}, t("What changed since the last report")),
        changes.length ? h("ul", {}, changes.map((line) => h("li", {}, line))) : h("p", {}, t("No grades to compare."))]
      : h("p", {}, t("This is the first report this school year: the next one will show what changed.")),
    chart(progress),
    h("p", { class: "hint" }, t("Solid lines join each subject's grades; dashed lines are its targets. The table says the same in words.")),
    progressTable(progress),
    characteristicsTable(progress));
}

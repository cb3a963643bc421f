// Attainment against target, drawn as inline SVG: per subject a bar for the latest grade
// and a marker for the target, on one scale. Screen readers get the table beside it
// (the SVG is one labelled image); both come from the same rows.

import { h, svg, uniqueId } from "./dom.js";
import { t } from "./i18n.js";
import { table } from "./ui.js";

const ROW_HEIGHT = 34;
const LABEL_WIDTH = 130;
const CHART_WIDTH = 520;
const TOP = 28;

function latest(items, kind) {
  const found = items.filter((a) => a.kind === kind);
  return found.length ? found[found.length - 1] : null;
}

function number(value) {
  const parsed = Number.parseFloat(value);
  return Number.isFinite(parsed) && /^\s*-?\d+(\.\d+)?\s*$/.test(String(value)) ? parsed : null;
}

/** One row per subject with a grade or a target: {subject, grade, target, gradeNumber, ...}. */
export function attainmentRows(subjects) {
  const rows = [];
  for (const subject of subjects) {
    const grade = latest(subject.attainment || [], "grade");
    const target = latest(subject.attainment || [], "target");
    if (!grade && !target) continue;
    rows.push({ subject: subject.subject, grade: grade ? grade.value : null,
                target: target ? target.value : null,
                gradeNumber: grade ? number(grade.value) : null,
                targetNumber: target ? number(target.value) : null });
  }
  return rows;
}

export function comparison(row) {
  if (row.gradeNumber === null || row.targetNumber === null) {
    if (row.grade !== null && row.target !== null && row.grade === row.target) return t("On target");
    return t("Not compared");
  }
  if (row.gradeNumber > row.targetNumber) return t("Above target");
  if (row.gradeNumber === row.targetNumber) return t("On target");
  return t("Below target");
}

function chartSvg(rows, titleId) {
  const drawn = rows.filter((r) => r.gradeNumber !== null || r.targetNumber !== null);
  const max = Math.max(9, ...drawn.flatMap((r) => [r.gradeNumber ?? 0, r.targetNumber ?? 0]));
  const plotWidth = CHART_WIDTH - LABEL_WIDTH - 20;
  const scale = (value) => LABEL_WIDTH + (value / max) * plotWidth;
  const height = TOP + drawn.length * ROW_HEIGHT + 30;
  const picture = svg("svg", { viewBox: `0 0 ${CHART_WIDTH} ${height}`, role: "img",
                               "aria-labelledby": titleId, class: "chart",
                               focusable: "false" });
  // Legend
  picture.append(
    svg("rect", { x: LABEL_WIDTH, y: 6, width: 14, height: 12, class: "chart__bar" }),
    svg("text", { x: LABEL_WIDTH + 20, y: 16, class: "chart__legend" }, t("Grade")),
    svg("line", { x1: LABEL_WIDTH + 90, x2: LABEL_WIDTH + 90, y1: 4, y2: 20,
                  class: "chart__target" }),
    svg("text", { x: LABEL_WIDTH + 98, y: 16, class: "chart__legend" }, t("Target")));
  // Grid: one line per whole grade
  const step = max > 20 ? Math.ceil(max / 10) : 1;
  for (let value = 0; value <= max; value += step) {
    const x = scale(value);
    picture.append(
      svg("line", { x1: x, x2: x, y1: TOP - 4, y2: TOP + drawn.length * ROW_HEIGHT,
                    class: "chart__grid" }),
      svg("text", { x, y: TOP + drawn.length * ROW_HEIGHT + 16, class: "chart__axis",
                    "text-anchor": "middle" }, String(value)));
  }
  drawn.forEach((row, index) => {
    const y = TOP + index * ROW_HEIGHT;
    picture.append(svg("text", { x: LABEL_WIDTH - 8, y: y + ROW_HEIGHT / 2 + 4,
                                 class: "chart__label", "text-anchor": "end" },
                       row.subject.length > 18 ? `${row.subject.slice(0, 17)}…` : row.subject));
    if (row.gradeNumber !== null) {
      picture.append(svg("rect", { x: LABEL_WIDTH, y: y + 7,
                                   width: Math.max(1, scale(row.gradeNumber) - LABEL_WIDTH),
                                   height: ROW_HEIGHT - 14, class: "chart__bar" }));
    }
    if (row.targetNumber !== null) {
      const x = scale(row.targetNumber);
      picture.append(svg("line", { x1: x, x2: x, y1: y + 2, y2: y + ROW_HEIGHT - 2,
                                   class: "chart__target" }));
    }
  });
  return { picture, drawn };
}

/** A figure with the chart and its table; null when the report has no grades or targets. */
export function attainmentChart(subjects) {
  const rows = attainmentRows(subjects);
  if (!rows.length) return null;
  const titleId = uniqueId("chart-title");
  const { picture, drawn } = chartSvg(rows, titleId);
  const summary = drawn.map((r) => t("{subject}: grade {grade}, target {target}", { subject: r.subject, grade: r.grade ?? t("none"), target: r.target ?? t("none") }))
    .join("; ");
  const figures = table(t("Grades against targets, by subject"),
    [t("Subject"), t("Grade"), t("Target"), t("Compared with target")],
    rows.map((r) => h("tr", {},
      h("th", { scope: "row" }, r.subject), h("td", {}, r.grade ?? "—"),
      h("td", {}, r.target ?? "—"), h("td", {}, comparison(r)))));
  return h("figure", { class: "chart-figure" },
    drawn.length ? [h("span", { id: titleId, class: "visually-hidden" },
                      t("Chart of grades against targets. {summary}. The same figures are in the table below.", { summary })),
                    h("div", { class: "chart-scroll" }, picture)] : null,
    h("figcaption", {}, t("Each bar is the latest grade; the dark line is the target.")),
    figures);
}

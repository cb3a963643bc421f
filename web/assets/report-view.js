// One report as its readers see it: the line under the title, the chart of attainment
// against target and a section per subject. The parents' app and the school admin's
// preview ("see what parents will see") draw it with the same code.

import { attainmentChart } from "./chart.js";
import { N_, t, texts } from "./i18n.js";
import { formatDate, h, uniqueId } from "./dom.js";
import { table } from "./ui.js";

const CHARACTERISTIC_TEXT = texts({ attitude: N_("Attitude"), effort: N_("Effort"), behaviour: N_("Behaviour"),
                              attendance: N_("Attendance") });

function describeAttainment(item) {
  if (item.kind === "mark" && item.out_of) {
    const percent = Math.round((Number(item.value) / item.out_of) * 100);
    return Number.isFinite(percent) ? t("{value} out of {total} ({percent}%)", { value: item.value, total: item.out_of, percent })
      : t("{value} out of {total}", { value: item.value, total: item.out_of });
  }
  return item.value;
}

function subjectSection(subject) {
  const headingId = uniqueId("subject");
  const title = subject.class ? `${subject.subject} (${subject.class})` : subject.subject;
  const parts = [h("h3", { id: headingId }, title)];
  if (subject.teachers && subject.teachers.length) {
    parts.push(h("p", {}, (subject.teachers.length > 1 ? t("Teachers: {names}", { names: subject.teachers.join(", ") })
      : t("Teacher: {names}", { names: subject.teachers.join(", ") }))));
  }
  if (subject.attainment && subject.attainment.length) {
    parts.push(table(t("Results in {subject}", { subject: subject.subject }), [t("What"), t("Topic"), t("Result")],
      subject.attainment.map((a) => h("tr", {},
        h("th", { scope: "row" }, a.kind.charAt(0).toUpperCase() + a.kind.slice(1)),
        h("td", {}, a.topic || "—"), h("td", {}, describeAttainment(a))))));
  }
  if (subject.characteristics && subject.characteristics.length) {
    parts.push(h("dl", { class: "characteristics" }, subject.characteristics.map((c) => [
      h("dt", {}, CHARACTERISTIC_TEXT[c.kind] || c.kind),
      h("dd", {}, c.kind === "attendance" && Number.isFinite(Number(c.value)) ? `${c.value}%` : c.value)])));
  }
  return h("section", { class: "card", "aria-labelledby": headingId }, parts);
}

export function reportMeta(report, school) {
  const student = report.student || {};
  const who = student.name && school ? t("{name} at {school}", { name: student.name, school }) : student.name;
  const year = !("year_group" in student) ? null
    : student.year_group === null ? t("year group not known") : t("year {year}", { year: student.year_group });
  return h("p", { class: "meta" }, [who, student.form_group ? t("form {form}", { form: student.form_group }) : null, year,
    report.period, t("published {date}", { date: formatDate(report.published_at) }),
    // A corrected report (issue 24): the school replaced the one first published.
    report.updated_at ? t("updated on {date}", { date: formatDate(report.updated_at) }) : null].filter(Boolean).join(" · "));
}

/** Everything under the title and its links: the chart, then each subject. */
export function reportBody(report) {
  const chart = attainmentChart(report.subjects || []);
  return [
    h("h2", {}, t("Attainment against target")),
    chart || h("p", {}, t("This report has no grades or targets.")),
    h("h2", {}, t("Subjects")),
    (report.subjects || []).map(subjectSection),
  ];
}

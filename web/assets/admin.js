// The school administrator's console (issue 15): subject requests with their deadlines,
// progress and audit trail; publishing reports and previewing them as parents see them;
// links by student; what the school's system pushed. It uses only the public API, like the
// parents' app (app.js loads this module for the role "school_admin"). The accessible names
// the browser tests rely on are listed in web/README.md.

import * as api from "./api.js";
import { formatDate, h, uniqueId } from "./dom.js";
import { N_, t, texts, tParts } from "./i18n.js";
import { relationshipText, requestPeople, requestRelationship, schoolPeople } from "./people.js";
import { reportBody, reportMeta } from "./report-view.js";
import { schools } from "./schools.js";
import { ownTwoStepSection, schoolTwoStepSection } from "./two-step.js";
import { allPages, announce, announceError, button, checkbox, explainError, field, form,
         formatDateTime, navigate, plural, PROGRESS_TEXT, saveDownload, selectField,
         SERVICE_TEXT, session, show, sleep, summary, table, watchScrolling } from "./ui.js";

const POLL_MS = 1500; // how often an open request's progress is asked again
const EMBARGO_SLACK_MS = 5 * 60 * 1000; // the API refuses an embargo further in the past

const KIND_TEXT = texts({
  access: N_("Access to data"),
  portability: N_("Portable copy of data"),
  erasure: N_("Erasure"),
  rectification: N_("Correction (rectification)"),
  restriction: N_("Restriction of processing"),
  objection: N_("Objection to processing"),
});
const STATUS_TEXT = texts({
  awaiting_school: N_("Waiting for your decision"),
  in_progress: N_("In progress"),
  paused: N_("Paused"),
  completed: N_("Done"),
  refused: N_("Refused"),
  failed: N_("Failed"),
});
const SUBJECT_TEXT = texts({ student: N_("a student"), guardian: N_("a parent or carer"), staff: N_("a member of staff") });
const FILER_TEXT = texts({ school_admin: N_("the school"), parent: N_("a parent"), student: N_("the student") });
const STEP_TEXT = texts({
  received: N_("Received"),
  resolving: N_("Looking up the school's id"),
  resolved: N_("The school's id found"),
  unknown_source_id: N_("The school's id is unknown"),
  approved: N_("Approved"),
  refused: N_("Refused"),
  task_for_school: N_("A task for the school"),
  sent: N_("Sent to every part of the system"),
  answered_done: N_("Answered: done"),
  answered_failed: N_("Answered: failed"),
  completed: N_("Completed"),
  retried: N_("Asked again"),
  reasked: N_("Asked again automatically"),
  extended: N_("Deadline extended"),
  paused: N_("Paused"),
  resumed: N_("Resumed"),
  exported: N_("Export downloaded"),
  export_released: N_("Export released to the person who asked"),
  exported_to_requester: N_("Export downloaded by the person who asked"),
  receipt_downloaded: N_("Receipt downloaded"),
  export_withdrawn: N_("Export withdrawn: someone it names was erased"),
});
const LINK_TEXT = texts({ pending: N_("Waiting for the parent"), verified: N_("Confirmed"), locked: N_("Locked"),
                    revoked: N_("Revoked") });
const OPEN = ["awaiting_school", "in_progress", "paused"];

export function navItems() {
  return [[t("Requests"), "/requests"], [t("Reports"), "/reports"], [t("Links"), "/links"],
          [t("School data"), "/school-data"], [t("Two-step sign-in"), "/two-step"],
          [t("How we keep your data safe"), "/privacy"], [t("Sign out"), "/sign-out"]];
}

export async function route(path, url) {
  if (path === "/requests") return done(requestsScreen(url));
  let match = path.match(/^\/requests\/([0-9a-fA-F-]{36})$/);
  if (match) return done(requestScreen(match[1]));
  if (path === "/reports") return done(reportsScreen(url));
  match = path.match(/^\/reports\/([0-9a-fA-F-]{36})$/);
  if (match) return done(previewScreen(match[1]));
  if (path === "/links") return done(linksScreen(url));
  match = path.match(/^\/links\/([0-9a-fA-F-]{36})$/);
  if (match) return done(studentLinksScreen(match[1]));
  if (path === "/school-data") return done(schoolDataScreen(url));
  if (path === "/two-step") return done(twoStepScreen());
  match = path.match(/^\/school-data\/batches\/([A-Za-z0-9._:-]{1,100})$/);
  if (match) return done(batchScreen(decodeURIComponent(match[1])));
  return false;
}

async function done(screen) {
  await screen;
  return true;
}

// --- two-step sign-in (issue 25) -------------------------------------------------------------

async function twoStepScreen() {
  const me = session.me;
  const sections = [];
  for (const school of schools()) {
    const section = await schoolTwoStepSection(school.id, me.id);
    if (schools().length > 1) section.prepend(h("p", { class: "hint" }, school.name));
    sections.push(section);
  }
  show(t("Two-step sign-in"), ownTwoStepSection(), ...sections);
}

// --- small pieces --------------------------------------------------------------------------

function card(title, ...content) {
  const headingId = uniqueId("section");
  return h("section", { class: "card", "aria-labelledby": headingId },
    h("h2", { id: headingId, tabindex: "-1" }, title), ...content);
}

function textArea(label, name, { required = false, hint } = {}) {
  const id = uniqueId(name);
  const hintId = hint ? `${id}-hint` : null;
  const input = h("textarea", { id, name, maxlength: "500", rows: "3", required,
                                "aria-describedby": hintId || false });
  return { input, wrapper: h("div", { class: "field" }, h("label", { for: id }, label),
    hint ? h("p", { id: hintId, class: "hint" }, hint) : null, input) };
}

function unavailable(title, error, back, backText) {
  if (error.status === 401) throw error;
  show(title, h("p", {}, explainError(error)), h("p", {}, h("a", { href: back }, backText)));
}

function deadline(request) {
  if (!OPEN.includes(request.status)) return formatDate(request.due_at);
  if (request.overdue) {
    return t("{date}: overdue by {days}", { date: formatDate(request.due_at), days: plural(Math.max(1, -request.days_left), "day") });
  }
  return t("{date} ({count} days left)", { date: formatDate(request.due_at), count: Math.max(0, request.days_left) });
}

function requestTitle(request) {
  return t("{kind} request", { kind: KIND_TEXT[request.kind] || request.kind });
}

function about(request, name) {
  const subject = request.subject || {};
  const kind = SUBJECT_TEXT[subject.type] || subject.type || t("someone");
  if (name) return `${name} (${kind})`;
  return t("{kind} (id {id})", { kind, id: subject.id || t("not known yet") });
}

/** Who filed a request, by name where the school has one (issue 24). */
function filerText(request, filer) {
  const kind = FILER_TEXT[request.filed_as] || t("the school");
  if (!filer) return kind;
  return request.filed_as === "school_admin" ? t("{filer} (for the school)", { filer }) : `${filer} (${kind})`;
}

// --- subject requests ----------------------------------------------------------------------

const SCOPES = [["open", N_("Open")], ["overdue", N_("Overdue")], ["all", N_("All")]];

function requestRow(request, names = {}) {
  const kind = SUBJECT_TEXT[(request.subject || {}).type] || t("someone");
  return h("li", { class: "request" },
    h("a", { href: `/requests/${encodeURIComponent(request.id)}` }, requestTitle(request)),
    h("span", { class: "meta" }, " ", t("about {whom}, from {filer}, received {date}; due {deadline}", {
      whom: names.about ? `${names.about} (${kind})` : kind, filer: filerText(request, names.filer),
      date: formatDate(request.received_at), deadline: deadline(request) })),
    h("span", { class: `badge badge--${request.overdue ? "overdue" : request.status}` },
      request.overdue ? t("Overdue") : STATUS_TEXT[request.status] || request.status));
}

function fileRequestForm(onFiled) {
  const kind = selectField({ label: t("Kind of request"), name: "kind",
    options: Object.entries(KIND_TEXT).filter(([k]) => k !== "objection"), value: "access" });
  const type = selectField({ label: t("About"), name: "subject-type",
    options: [["student", t("A student")], ["guardian", t("A parent or carer")], ["staff", t("A member of staff")]],
    value: "student" });
  const source = field({ label: t("The school's id for this person"), name: "source-id",
    autocomplete: "off", hint: t("The id your school's system uses for the record (its source id).") });
  const submit = async () => {
    source.setError(null);
    if (!source.input.value.trim()) {
      source.setError(t("Enter the school's id for the person."));
      announceError(t("Enter the school's id for the person."));
      source.input.focus();
      return;
    }
    try {
      const filed = await api.call("POST", "/api/v1/subject-requests", {
        kind: kind.input.value,
        subject: { type: type.input.value, source_id: source.input.value.trim() } });
      source.input.value = "";
      announce(t("The request is filed: {status}.", { status: STATUS_TEXT[filed.status] || filed.status }));
      onFiled(filed);
    } catch (error) {
      announceError(explainError(error));
    }
  };
  return form(submit, kind.wrapper, type.wrapper, source.wrapper, button(t("File the request")));
}

async function requestsScreen(url) {
  const scope = SCOPES.some(([s]) => s === url.searchParams.get("scope"))
    ? url.searchParams.get("scope") : "open";
  const answer = await api.call("GET", `/api/v1/subject-requests?scope=${scope}&limit=50`);
  // Names from the services holding them, one lookup per page (dsar keeps ids only).
  const rowsOf = async (items) => {
    const names = await requestPeople(items);
    return items.map((r) => requestRow(r, names.get(r.id)));
  };
  const list = h("ul", { class: "request-list" }, await rowsOf(answer.items));
  const empty = h("p", { hidden: answer.items.length > 0 }, {
    open: t("No request is open."), overdue: t("No request is overdue."), all: t("No request has been made yet."),
  }[scope]);
  let next = answer.next;
  const more = h("button", { type: "button", class: "button button--secondary", hidden: !next,
    onclick: async () => {
      try {
        const page = await api.call("GET", `/api/v1/subject-requests?scope=${scope}&limit=50&after=${encodeURIComponent(next)}`);
        list.append(...await rowsOf(page.items));
        next = page.next;
        more.hidden = !next;
        announce(t("{count} more requests shown.", { count: page.items.length }));
      } catch (error) {
        announceError(explainError(error));
      }
    } }, t("Show more requests"));
  show(t("Subject requests"),
    h("p", {}, t("Requests from parents and students wait for your decision. Once approved, every part of Pupil Progress answers; the law gives one month, which you may extend by up to two months with a reason.")),
    h("nav", { "aria-label": t("Which requests"), class: "child-switcher" },
      h("ul", {}, SCOPES.map(([s, label]) => h("li", {},
        h("a", { href: `/requests?scope=${s}`, "aria-current": s === scope ? "page" : false }, t(label)))))),
    empty, list, more,
    card(t("File a request for someone"),
      h("p", {}, t("When someone asks the school directly, file it here: it starts at once.")),
      fileRequestForm((filed) => {
        if (scope === "overdue") return;
        rowsOf([filed]).then(([row]) => list.prepend(row));
        empty.hidden = true;
      })));
}

function progressItems(request) {
  return Object.entries(request.services || {}).map(([name, progress]) =>
    h("li", { class: `progress progress--${progress}` },
      t("{service}: {progress}", { service: SERVICE_TEXT[name] || name, progress: PROGRESS_TEXT[progress] || progress })));
}

const ROLE_TEXT = texts({ school_admin: N_("school staff"), parent: N_("parent"), student: N_("student") });

/** Who took a step: "You", a name the school recorded (with its role), or Pupil Progress. */
function actorText(actor, people) {
  if (!actor) return t("Pupil Progress");
  if (session.me && actor === session.me.id) return t("You");
  const person = people && people.accounts.get(actor);
  if (person) return `${person.name} (${ROLE_TEXT[person.role] || person.role})`;
  return t("An account no longer at the school ({id})", { id: actor.slice(0, 8) });
}

function auditRows(steps, people) {
  return steps.map((s) => h("tr", {},
    h("td", {}, formatDateTime(s.at)),
    h("td", {}, STEP_TEXT[s.step] || s.step),
    h("td", {}, s.service ? SERVICE_TEXT[s.service] || s.service : "—"),
    h("td", {}, actorText(s.actor, people))));
}

async function requestScreen(requestId) {
  const path = `/api/v1/subject-requests/${encodeURIComponent(requestId)}`;
  let request;
  let steps;
  try {
    [request, steps] = await Promise.all([
      api.call("GET", path), api.call("GET", `${path}/audit`).then((a) => a.items)]);
  } catch (error) {
    unavailable(t("Request not available"), error, "/requests", t("All requests"));
    return;
  }
  // Names from the services holding them (dsar keeps ids only); asked again when new.
  let names = {};
  let relationship = null;
  let actors = null;
  const known = new Set();
  const learnNames = async () => {
    const wanted = [request.filed_by, ...steps.map((s) => s.actor)].filter(Boolean);
    if (!names.about || wanted.some((id) => !known.has(id))) {
      wanted.forEach((id) => known.add(id));
      [names, actors] = await Promise.all([
        requestPeople([request]).then((m) => m.get(request.id) || {}),
        schoolPeople(request.school_id, { accounts: [...known] })]);
      relationship = await requestRelationship(request, names);
    }
  };
  await learnNames();
  const facts = h("div", {});
  const actions = h("div", {});
  const progressHeading = h("h2", { id: uniqueId("progress"), tabindex: "-1" },
    t("Progress in each part of the system"));
  const progress = h("ul", { class: "progress-list", "aria-labelledby": progressHeading.id });
  const progressPart = h("div", {}, progressHeading, progress);
  const trail = h("tbody", {});
  const actionsHeading = h("h2", { id: uniqueId("decide"), tabindex: "-1" }, t("What you can do"));

  const refresh = async () => {
    [request, steps] = await Promise.all([
      api.call("GET", path), api.call("GET", `${path}/audit`).then((a) => a.items)]);
    // A request filed by the school's id learns whom it is about once ingest answers.
    await learnNames();
    draw();
  };
  // An action's answer is the request itself; the audit trail has a new step.
  const act = async (name, body, message) => {
    try {
      request = await api.call("POST", `${path}/${name}`, body);
      steps = (await api.call("GET", `${path}/audit`)).items;
      await learnNames();
      draw();
      announce(message);
      actionsHeading.focus();
      follow();
    } catch (error) {
      announceError(explainError(error));
    }
  };

  const refuseBox = () => {
    const reason = textArea(t("Reason for refusing"), "refusal-reason", {
      required: true, hint: t("The requester sees this reason.") });
    const box = h("div", { class: "confirm", hidden: true },
      form(async () => {
        if (!reason.input.value.trim()) {
          announceError(t("Give the reason for refusing."));
          reason.input.focus();
          return;
        }
        await act("refuse", { reason: reason.input.value.trim() }, t("The request is refused."));
      }, reason.wrapper,
      h("div", { class: "actions" }, button(t("Refuse the request"), { class: "button button--danger" }),
        h("button", { type: "button", class: "button button--secondary",
                      onclick: () => { box.hidden = true; } }, t("Cancel")))));
    return { box, open: () => { box.hidden = false; reason.input.focus(); } };
  };

  const extendForm = () => {
    const months = selectField({ label: t("Extend by"), name: "extend-months",
                                 options: [["1", t("1 month")], ["2", t("2 months")]], value: "1" });
    const reason = textArea(t("Reason for the extension"), "extension-reason", { required: true,
      hint: t("Allowed when a request is complex or there are many; tell the requester within the first month.") });
    return card(t("Extend the deadline"), form(async () => {
      if (!reason.input.value.trim()) {
        announceError(t("Give the reason for the extension."));
        reason.input.focus();
        return;
      }
      await act("extend", { months: Number(months.input.value), reason: reason.input.value.trim() },
        t("The deadline is extended."));
    }, months.wrapper, reason.wrapper, button(t("Extend the deadline"))));
  };

  const draw = () => {
    const status = request.overdue ? t("Overdue") : STATUS_TEXT[request.status] || request.status;
    facts.replaceChildren(summary([
      [t("Status"), status],
      [t("About"), about(request, names.about)],
      [t("Filed by"), filerText(request, names.filer)],
      relationship ? [t("Relationship"), relationship] : null,
      [t("Received"), formatDateTime(request.received_at)],
      [t("Due by"), deadline(request)],
      request.extension_months ? [t("Extended"), t("{months}: {reason}", { months: plural(request.extension_months, "month"), reason: request.extension_reason || "" })] : null,
      request.details && request.details.note ? [t("Note from the requester"), request.details.note] : null,
      request.refusal_reason ? [t("Reason for refusing"), request.refusal_reason] : null,
      request.completed_at ? [t("Finished"), formatDateTime(request.completed_at)] : null,
    ]));
    const parts = [];
    if (request.status === "awaiting_school") {
      const refuse = refuseBox();
      parts.push(h("p", {}, t("Check that the requester is entitled to this, then approve or refuse it.")),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "button",
                        onclick: () => act("approve", undefined, t("The request is approved: every part of the system is answering it.")) },
            t("Approve")),
          h("button", { type: "button", class: "button button--secondary", onclick: refuse.open },
            t("Refuse"))),
        refuse.box);
    }
    if (request.kind === "rectification" && request.status === "in_progress") {
      parts.push(h("p", { class: "notice" }, t("A task for the school: correct the record in the school's own system, which then pushes the correction here. Mark it done once the correction is sent.")),
        h("div", { class: "actions" }, h("button", { type: "button", class: "button",
          onclick: () => act("complete", undefined, t("The correction is marked as done.")) },
        t("Mark the correction as done"))));
    }
    if (request.status === "in_progress" && request.kind !== "rectification"
        && Object.values(request.services || {}).some((p) => p !== "done")) {
      parts.push(h("div", { class: "actions" }, h("button", { type: "button", class: "button button--secondary",
        onclick: () => act("retry", undefined, t("The parts that have not answered are asked again.")) },
      t("Ask the parts that have not answered again"))));
    }
    if (request.status === "in_progress" || request.status === "paused") {
      const paused = request.status === "paused";
      parts.push(h("div", { class: "actions" }, h("button", { type: "button", class: "button button--secondary",
        onclick: () => act("pause", { paused: !paused }, paused ? t("The request is resumed.") : t("The request is paused: the deadline waits.")) },
      paused ? t("Resume") : t("Pause while waiting for the requester"))));
    }
    if (request.export_available && request.export_released) {
      parts.push(h("p", {}, t("Released to the person who asked: they can download the copy in the app until {date}.", { date: formatDateTime(request.export_expires_at) })));
    } else if (request.export_available && ["parent", "student"].includes(request.filed_as)) {
      // The school's choice (issue 24): hand the copy over itself, or release it to the
      // person who asked, who then downloads it in the app until it expires.
      parts.push(h("p", {}, t("The copy of the data is ready until {date}. Download it and hand it over yourself, or release it to the person who asked: they can then download it in the app until then.", { date: formatDateTime(request.export_expires_at) })),
        h("div", { class: "actions" }, h("button", { type: "button", class: "button button--secondary",
          onclick: () => act("release", undefined, t("The copy is released: the person who asked can download it in the app.")) },
        t("Release to the person who asked"))));
    }
    if (request.export_available) {
      const toRequester = ["parent", "student"].includes(request.filed_as);
      parts.push(h("p", {}, toRequester ? null : [t("The copy of the data is ready until {date}. Send it to the requester securely.", { date: formatDateTime(request.export_expires_at) }), " "],
        t("The zip holds a summary to read and print (your-data.html) and the full data as JSON and CSV files.")),
        h("div", { class: "actions" }, h("button", { type: "button", class: "button", onclick: async () => {
          try {
            await saveDownload(await api.callRaw("GET", `${path}/export`), `subject-request-${request.id}.zip`);
            announce(t("The export is downloaded."));
          } catch (error) {
            announceError(explainError(error));
          }
        } }, t("Download the export"))));
    }
    if (request.receipt_available) {
      parts.push(h("p", {}, t("The receipt is the school's proof of what was done: every part of Pupil Progress signed its own answer, and anyone can check the signatures without us.")),
        h("div", { class: "actions" }, h("button", { type: "button", class: "button button--secondary", onclick: async () => {
          try {
            await saveDownload(await api.callRaw("GET", `${path}/receipt`), `receipt-${request.id}.jws`);
            announce(t("The receipt is downloaded."));
          } catch (error) {
            announceError(explainError(error));
          }
        } }, t("Download the receipt"))));
    }
    if (OPEN.includes(request.status)) parts.push(extendForm());
    if (!parts.length) parts.push(h("p", {}, t("Nothing is left to do on this request.")));
    actions.replaceChildren(actionsHeading, ...parts);
    const services = progressItems(request);
    progressPart.hidden = !services.length || request.status === "awaiting_school";
    progress.replaceChildren(...services);
    trail.replaceChildren(...auditRows(steps, actors));
  };

  // While every part answers, ask again every POLL_MS; stop when the screen is left.
  let following = false;
  const follow = async () => {
    if (following) return;
    following = true;
    try {
      while (request.status === "in_progress" && request.kind !== "rectification"
             && progress.isConnected) {
        await sleep(POLL_MS);
        if (!progress.isConnected) break;
        await refresh();
        if (request.status === "completed") announce(t("The request is complete: every part of the system has answered."));
        if (request.status === "failed") announceError(t("The request failed in a part of the system: ask it again."));
      }
    } catch (error) {
      if (progress.isConnected) announceError(explainError(error));
    } finally {
      following = false;
    }
  };

  draw();
  show(requestTitle(request), facts, actions, progressPart,
    h("h2", {}, t("Audit trail")),
    table(t("Every step of this request, in order"), [t("When"), t("Step"), t("Part of the system"), t("By")], trail),
    h("p", {}, h("a", { href: "/requests" }, t("All requests"))));
  follow();
}

// --- reports -------------------------------------------------------------------------------

function localToIso(value) {
  // datetime-local gives the reader's local time without a zone; the API wants UTC.
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function reportRow(report) {
  const name = (report.student && report.student.name) || t("A student");
  return h("tr", {},
    h("td", {}, name, report.student && report.student.form_group ? h("span", { class: "meta" }, ` (${report.student.form_group})`) : null),
    h("td", {}, report.period),
    h("td", {}, report.title, report.version > 1 ? h("span", { class: "meta" }, t(" (version {version})", { version: report.version })) : null,
      report.updated_at ? h("span", { class: "meta" }, t(" (updated on {date})", { date: formatDate(report.updated_at) })) : null),
    h("td", {}, report.withdrawn_at ? t("Withdrawn on {date}", { date: formatDate(report.withdrawn_at) })
      : report.visible ? t("Visible since {date}", { date: formatDateTime(report.visible_from) })
        : t("Embargoed until {date}", { date: formatDateTime(report.visible_from) })),
    h("td", {}, h("a", { href: `/reports/${encodeURIComponent(report.id)}` }, t("Preview"),
      h("span", { class: "visually-hidden" }, t(" the report for {name}", { name })))));
}

async function reportsScreen(url) {
  const wanted = url.searchParams.get("period");
  const [periods, listing] = await Promise.all([
    api.call("GET", "/api/v1/reports/periods").then((a) => a.items),
    api.call("GET", `/api/v1/reports?limit=50${wanted ? `&period=${encodeURIComponent(wanted)}` : ""}`),
  ]);
  const withData = periods.filter((p) => p.students > 0);
  const period = withData.length
    ? selectField({ label: t("Period"), name: "period", value: withData[0].period,
      options: withData.map((p) => [p.period, p.reports
        ? t("{period} ({students} with data, {reports} published)", { period: p.period,
          students: plural(p.students, "student"), reports: plural(p.reports, "report") })
        : t("{period} ({students} with data)", { period: p.period, students: plural(p.students, "student") })]) })
    : null;
  const title = field({ label: t("Title"), name: "title", autocomplete: "off",
                        hint: t("Parents see it as the report's name, for example \"Autumn progress report\".") });
  const from = field({ label: t("Visible to parents from (optional)"), type: "datetime-local",
    name: "visible-from", required: false,
    hint: t("Leave empty to show it at once. Parents are emailed when it becomes visible.") });
  const rows = h("tbody", {}, listing.items.map(reportRow));
  const empty = h("p", { hidden: listing.items.length > 0 }, t("No reports have been published yet."));
  let next = listing.next;
  const more = h("button", { type: "button", class: "button button--secondary", hidden: !next,
    onclick: async () => {
      try {
        const page = await api.call("GET", `/api/v1/reports?limit=50&after=${encodeURIComponent(next)}${wanted ? `&period=${encodeURIComponent(wanted)}` : ""}`);
        rows.append(...page.items.map(reportRow));
        next = page.next;
        more.hidden = !next;
      } catch (error) {
        announceError(explainError(error));
      }
    } }, t("Show more reports"));

  const submit = async () => {
    title.setError(null);
    from.setError(null);
    if (!title.input.value.trim()) {
      title.setError(t("Give the reports a title."));
      announceError(t("Give the reports a title."));
      title.input.focus();
      return;
    }
    const body = { period: period.input.value, title: title.input.value.trim() };
    if (from.input.value) {
      body.visible_from = localToIso(from.input.value);
      if (!body.visible_from) {
        from.setError(t("Enter a date and time, or leave it empty."));
        from.input.focus();
        return;
      }
      if (new Date(body.visible_from).getTime() < Date.now() - EMBARGO_SLACK_MS) {
        from.setError(t("That date has passed: leave it empty to show the reports at once, or choose a later date."));
        from.input.focus();
        return;
      }
    }
    await confirmPublishing(body);
  };

  const confirmBox = h("div", { class: "confirm", hidden: true });
  const confirmPublishing = async (body) => {
    const chosen = periods.find((p) => p.period === body.period) || { students: 0, parents: 0 };
    const params = new URLSearchParams({ period: body.period, title: body.title });
    let preview = null;
    try {
      const draft = await api.call("GET", `/api/v1/reports/draft?${params}`);
      const who = (draft.student && draft.student.name) || t("a student");
      preview = h("details", { class: "draft-preview" },
        h("summary", {}, t("See the report for {name} before publishing", { name: who })),
        h("p", { class: "notice" }, t("This is what parents and the student will see. Nothing is published yet.")),
        reportMeta(draft, (schools()[0] || {}).name), reportBody(draft));
      watchScrolling(preview, t("Chart of grades against targets"));
    } catch (error) {
      if (error.status !== 404) announceError(explainError(error));
    }
    const headingId = uniqueId("confirm");
    confirmBox.replaceChildren(
      h("h3", { id: headingId, tabindex: "-1" }, t("Check before publishing")),
      h("p", {}, t("This publishes {reports} for {period}, titled \"{title}\".", {
        reports: plural(chosen.students, "report"), period: body.period, title: body.title }), " ",
      body.visible_from
        ? t("{parents} with a confirmed link will be emailed when the reports become visible on {date}, except any who turned report emails off.",
          { parents: plural(chosen.parents, "parent"), date: formatDateTime(body.visible_from) })
        : t("{parents} with a confirmed link will be emailed now, except any who turned report emails off.",
          { parents: plural(chosen.parents, "parent") })),
      preview ? h("p", {}, t("Preview a report first to check it reads as you expect.")) : null,
      preview,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button", onclick: () => publishNow(body) },
          t("Yes, publish {reports}", { reports: plural(chosen.students, "report") })),
        h("button", { type: "button", class: "button button--secondary",
                      onclick: () => { confirmBox.hidden = true; title.input.focus(); } }, t("Cancel"))));
    confirmBox.hidden = false;
    document.getElementById(headingId).focus();
  };

  const publishNow = async (body) => {
    confirmBox.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const answer = await api.call("POST", "/api/v1/reports/publish", body);
      confirmBox.hidden = true;
      const fresh = await api.call("GET", "/api/v1/reports?limit=50");
      rows.replaceChildren(...fresh.items.map(reportRow));
      next = fresh.next;
      more.hidden = !next;
      empty.hidden = fresh.items.length > 0;
      title.input.value = "";
      const published = { reports: plural(answer.published, "report"), period: body.period };
      announce(!answer.published
        ? t("Nothing was published: no student has data for {period} yet.", { period: body.period })
        : body.visible_from
          ? t("Published {reports} for {period}. Parents see them from {date}.",
            { ...published, date: formatDateTime(body.visible_from) })
          : t("Published {reports} for {period}. Parents can see them now.", published));
    } catch (error) {
      confirmBox.hidden = true;
      if (error.status === 422 && error.fields && error.fields.visible_from) {
        from.setError(error.fields.visible_from[0]);
        from.input.focus();
      }
      announceError(explainError(error));
    } finally {
      confirmBox.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  };

  show(t("Reports"),
    card(t("Publish a period's reports"),
      period
        ? [h("p", {}, t("Publishing makes one report per student with data in the period, a snapshot: later changes need a new publication, and both stay.")),
          form(submit, period.wrapper, title.wrapper, from.wrapper, button(t("Publish"))), confirmBox]
        : h("p", {}, t("No results or characteristics have arrived from the school's system yet."))),
    h("h2", {}, t("Published reports")),
    h("p", {}, t("Preview a report to see exactly what its parents and the student see.")),
    empty,
    table(wanted ? t("Reports for {period}", { period: wanted }) : t("Reports, newest first"),
          [t("Student"), t("Period"), t("Title"), t("Parents see it"), t("Report")], rows),
    more);
}

async function previewScreen(reportId) {
  let report;
  try {
    report = await api.call("GET", `/api/v1/reports/${encodeURIComponent(reportId)}`);
  } catch (error) {
    unavailable(t("Report not available"), error, "/reports", t("All reports"));
    return;
  }
  // Whether it is current, withdrawn or replaced: the student's reports as the school sees
  // them (a replaced one is not listed; its correction is).
  let listed = null;
  try {
    const studentId = report.student && report.student.id;
    const listing = studentId ? await allPages(`/api/v1/students/${encodeURIComponent(studentId)}/reports`) : [];
    listed = listing.find((r) => r.id === report.id) || null;
  } catch (error) {
    listed = null;
  }
  let state;
  if (!listed) {
    state = h("p", { class: "notice" }, tParts("This report was corrected: parents and the student see the corrected version instead. {link}.",
      { link: h("a", { href: "/reports" }, t("Find it in the reports")) }));
  } else if (listed.withdrawn_at) {
    state = h("p", { class: "notice" }, t("Withdrawn on {date}: parents and the student no longer see this report.", { date: formatDate(listed.withdrawn_at) }));
  } else {
    state = h("p", { class: "notice" }, t("This is what parents and the student see, once the report is visible to them."));
  }
  show(report.title, state,
    reportMeta(report, (schools()[0] || {}).name),
    h("p", {}, h("a", { href: "/reports" }, t("All reports"))),
    reportBody(report),
    listed && !listed.withdrawn_at ? correctionCard(report) : null);
}

/** Correct a published report (made again from the data held now) or withdraw it. */
function correctionCard(report) {
  const id = uniqueId("notify");
  const notify = h("input", { type: "checkbox", id, "aria-describedby": `${id}-hint` });
  const correct = async () => {
    try {
      const answer = await api.call("POST", `/api/v1/reports/${encodeURIComponent(report.id)}/correct`,
                                    { notify: notify.checked });
      await navigate(`/reports/${encodeURIComponent(answer.id)}`);
      announce(notify.checked
        ? t("The report is corrected. The parents who were told about it will be emailed that it was updated.")
        : t("The report is corrected. Parents see the updated version; nobody was emailed."));
    } catch (error) {
      announceError(explainError(error));
    }
  };
  const withdraw = async () => {
    try {
      await api.call("POST", `/api/v1/reports/${encodeURIComponent(report.id)}/withdraw`);
      await navigate(`/reports/${encodeURIComponent(report.id)}`, { replace: true });
      announce(t("The report is withdrawn: parents and the student no longer see it."));
    } catch (error) {
      announceError(explainError(error));
    }
  };
  const confirm = h("div", { class: "confirm", hidden: true },
    h("p", {}, t("Parents and the student will no longer see this report, and emails about it not sent yet will not be sent. This cannot be undone.")),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "button button--danger", onclick: withdraw }, t("Yes, withdraw the report")),
      h("button", { type: "button", class: "button button--secondary",
                    onclick: () => { confirm.hidden = true; } }, t("Cancel"))));
  return card(t("Correct or withdraw this report"),
    h("p", {}, t("Fix the mistake in your school's system first. Correcting makes this report again from the data held now; the new version replaces this one, and parents and the student see only it, marked \u201cupdated on\u201d the day you correct it.")),
    form(correct,
      h("div", { class: "checkbox-field" },
        h("div", { class: "checkbox" }, notify, h("label", { for: id }, t("Email the parents who were told about this report"))),
        h("p", { id: `${id}-hint`, class: "hint" }, t("Leave it unticked to correct the report without emailing anyone."))),
      button(t("Correct the report"))),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "button button--secondary",
        onclick: () => { confirm.hidden = false; confirm.querySelector("button").focus(); } }, t("Withdraw the report"))),
    confirm);
}

// --- links ---------------------------------------------------------------------------------

// How many of a student's links are in each state ("2 locked, 1 confirmed").
const COUNT_TEXT = { locked: N_("{count} locked"), pending: N_("{count} waiting for the parent"),
                     verified: N_("{count} confirmed"), revoked: N_("{count} revoked") };

function countsText(counts) {
  const parts = ["locked", "pending", "verified", "revoked"]
    .filter((s) => counts[s]).map((s) => t(COUNT_TEXT[s], { count: counts[s] }));
  return parts.length ? parts.join(", ") : t("no links");
}

async function linksScreen(url) {
  const name = url.searchParams.get("name") || "";
  const locked = url.searchParams.get("locked") === "1";
  const query = new URLSearchParams({ limit: "50" });
  if (name) query.set("name", name);
  if (locked) query.set("link_status", "locked");
  const answer = await api.call("GET", `/api/v1/links/students?${query}`);
  const search = field({ label: t("Student's name"), type: "search", name: "student-name",
    autocomplete: "off", required: false, attrs: { value: name } });
  const find = async () => {
    const params = new URLSearchParams();
    if (search.input.value.trim()) params.set("name", search.input.value.trim());
    await navigate(`/links${params.toString() ? `?${params}` : ""}`);
  };
  const rows = answer.items.map((s) => h("li", {},
    h("a", { href: `/links/${encodeURIComponent(s.id)}` }, s.name || t("A student without a name yet")),
    h("span", { class: "meta" }, ` ${countsText(s.links)}`),
    s.links.locked ? h("span", { class: "badge badge--locked" }, t("Locked link")) : null,
    s.waiting_for_date_of_birth ? h("span", { class: "badge" }, t("Waiting for the school to send a date of birth")) : null));
  show(t("Links between parents and children"),
    h("p", {}, t("A parent sees a child's reports once they confirm the child's date of birth. Three wrong answers lock the link until you unlock it; revoking a link ends the parent's access.")),
    form(find, search.wrapper, h("div", { class: "actions" }, button(t("Find")),
      h("a", { href: locked ? "/links" : "/links?locked=1", class: "button button--secondary" },
        locked ? t("Show every student") : t("Show students with locked links")))),
    h("h2", {}, locked ? t("Students with a locked link")
      : name ? t("Students matching \"{name}\"", { name }) : t("Students")),
    rows.length ? h("ul", { class: "request-list" }, rows)
      : h("p", {}, t("No student matches.")),
    answer.next ? h("p", { class: "hint" }, t("Only the first 50 are shown: search by name to find others.")) : null);
}

async function studentLinksScreen(studentId) {
  let items;
  try {
    items = (await api.call("GET", `/api/v1/links?student_id=${encodeURIComponent(studentId)}&limit=100`)).items;
  } catch (error) {
    unavailable(t("Links not available"), error, "/links", t("All students"));
    return;
  }
  const name = (items[0] && items[0].student && items[0].student.name) || t("this student");
  const list = h("div", { class: "cards" });
  // Each contact by the name the school recorded (identity holds it), then the relationship.
  const contacts = items.length ? (await schoolPeople(items[0].school_id,
    { guardians: items.map((l) => l.guardian_id) })).guardians : new Map();
  const labels = {};
  const label = (link) => {
    const said = relationshipText(link.relationship);
    const base = said ? said.charAt(0).toUpperCase() + said.slice(1) : t("Contact");
    const person = contacts.get(link.guardian_id);
    if (person) return `${person.name} (${base})`;
    labels[base] = (labels[base] || 0) + 1;
    return labels[base] > 1 ? t("{base} (contact {number})", { base, number: labels[base] }) : base;
  };
  const titles = new Map(items.map((l) => [l.id, label(l)]));

  const section = (link) => {
    const headingId = uniqueId("link");
    const parts = [h("h2", { id: headingId, tabindex: "-1" }, titles.get(link.id)),
      h("p", { class: `badge badge--${link.status === "verified" ? "ok" : link.status}` }, LINK_TEXT[link.status] || link.status),
      link.waiting_for_date_of_birth ? h("p", {}, t("Waiting for the school to send a date of birth: the parent cannot confirm this child until your school system sends it.")) : null,
      summary([
        [t("Account"), link.has_account ? t("Activated") : t("Not activated yet")],
        link.status !== "verified" && link.status !== "revoked" ? [t("Wrong answers"), String(link.failed_attempts || 0)] : null,
        link.changed_at ? [t("Last change"), formatDateTime(link.changed_at)] : null,
      ])];
    const change = async (action, message) => {
      try {
        const answer = await api.call("POST", `/api/v1/links/${encodeURIComponent(link.id)}/${action}`);
        link.status = answer.status;
        if (action === "unlock") link.failed_attempts = 0;
        redraw(link);
        announce(message);
      } catch (error) {
        announceError(explainError(error));
      }
    };
    const buttons = [];
    if (link.status === "locked") {
      buttons.push(h("button", { type: "button", class: "button",
        onclick: () => change("unlock", t("The link is unlocked: the parent can answer again.")) }, t("Unlock")));
    }
    if (link.status !== "revoked") {
      const confirm = h("div", { class: "confirm", hidden: true },
        h("p", {}, t("The parent will no longer see this child's reports. Only the school can undo it.")),
        h("div", { class: "actions" },
          h("button", { type: "button", class: "button button--danger",
                        onclick: () => change("revoke", t("The link is revoked.")) }, t("Yes, revoke the link")),
          h("button", { type: "button", class: "button button--secondary",
                        onclick: () => { confirm.hidden = true; } }, t("Cancel"))));
      buttons.push(h("button", { type: "button", class: "button button--secondary",
        onclick: () => { confirm.hidden = false; confirm.querySelector("button").focus(); } }, t("Revoke")));
      parts.push(h("div", { class: "actions" }, buttons), confirm);
    } else if (buttons.length) {
      parts.push(h("div", { class: "actions" }, buttons));
    }
    return h("section", { class: "card", "aria-labelledby": headingId, dataset: { link: link.id } }, parts);
  };
  // A link's state changed: its buttons are gone, so the focus goes to its heading.
  const redraw = (changed) => {
    list.replaceChildren(...items.map(section));
    if (changed) {
      const found = [...list.children].find((el) => el.dataset.link === changed.id);
      if (found) found.querySelector("h2").focus();
    }
  };
  redraw();
  show(t("Links for {name}", { name }),
    items.length ? h("p", {}, t("Each parent or carer the school records as receiving reports has a link, named here as the school recorded them, with their relationship to the student."))
      : h("p", {}, t("No parent or carer is linked to this student.")),
    list,
    h("p", {}, h("a", { href: "/links" }, t("All students"))));
}

// --- school data ---------------------------------------------------------------------------

const SOURCE_TEXT = texts({ push: N_("Pushed by the school's system"), oneroster: N_("OneRoster upload") });

function batchRow(batch) {
  return h("tr", {},
    h("td", {}, h("a", { href: `/school-data/batches/${encodeURIComponent(batch.batch_id)}` },
      formatDateTime(batch.received_at), h("span", { class: "visually-hidden" }, t(" (batch {id})", { id: batch.batch_id })))),
    h("td", {}, SOURCE_TEXT[batch.source] || batch.source),
    h("td", {}, String(batch.events)),
    h("td", {}, String(batch.accepted)),
    h("td", {}, batch.rejected_count ? h("strong", {}, String(batch.rejected_count)) : "0"));
}

// The reasons a school's data was refused (a rejected event's, a bundle's row's) come from
// ingest in the page's language (its API translates them by Accept-Language).

// A OneRoster upload is a job (docs/oneroster.md "An upload is a job"): the upload answers
// at once; the job's status is asked again every POLL_MS until it ends.
const JOB_URL = "/api/v1/school-data/oneroster/jobs/";
const JOB_STAGE_TEXT = texts({ reading: N_("Reading the files"), checking: N_("Checking every row"),
                               applying: N_("Applying the changes"), saving: N_("Saving what was applied") });
const JOB_ENDED = ["applied", "refused", "failed"];
const CONTACT_ROLES = [["parent", N_("Parents")], ["guardian", N_("Guardians")], ["relative", N_("Relatives")]];
const SHOWN_ROWS = 50; // of a job's ignored rows; the rest are counted

function faultRows(rows) {
  return rows.map((r) => h("tr", {},
    h("td", {}, r.file || t("The bundle")), h("td", {}, r.line === null || r.line === undefined ? "—" : String(r.line)),
    h("td", {}, r.error || r.message || "")));
}

function problemsTable(rows) {
  return table(t("Problems in the bundle, by file and line"), [t("File"), t("Line"), t("Problem")], faultRows(rows));
}

/** What a job shows, by its status: progress while it waits or applies, then its outcome. */
function jobView(job) {
  const labelId = uniqueId("job-progress");
  const parts = [h("p", {}, t("Received {date}.", { date: formatDateTime(job.received_at) }))];
  if (job.status === "queued" || job.status === "applying") {
    const step = job.progress;
    const stage = step && (JOB_STAGE_TEXT[step.stage] || step.stage);
    const text = !step ? t("Waiting to start: the bundle is stored and will be applied shortly.")
      : step.total ? t("{stage}: {done} of {total} ({percent}%)", { stage, done: step.done, total: step.total, percent: step.percent })
        : t("{stage} ({percent}%)", { stage, percent: step.percent });
    parts.push(h("p", { id: labelId }, text),
      h("progress", { max: "100", value: step ? String(step.percent) : false,
                      "aria-labelledby": labelId }),
      h("p", { class: "hint" }, t("You can leave this page: the upload goes on. A large school's first bundle takes a minute or two.")));
  } else if (job.status === "applied") {
    const result = job.result || {};
    parts.push(h("p", { class: "badge badge--ok" }, t("Applied")),
      summary([[t("Rows read"), result.rows === null || result.rows === undefined ? "—" : String(result.rows)],
               [t("Changes taken"), String(result.events || 0)],
               [t("Changes sent on"), String(result.published || 0)]]));
    const others = Object.entries(result.other_orgs || {});
    if (others.length) {
      parts.push(table(t("Rows of other schools' orgs, not taken"), [t("Org"), t("File"), t("Rows")],
        others.flatMap(([org, files]) => Object.entries(files).map(([file, count]) =>
          h("tr", {}, h("td", {}, org), h("td", {}, file), h("td", {}, String(count)))))));
    }
    const ignored = result.ignored || [];
    if (ignored.length) {
      parts.push(table(t("Rows not taken or changed, and why"), [t("File"), t("Line"), t("Reason")],
        faultRows(ignored.slice(0, SHOWN_ROWS))),
      ignored.length > SHOWN_ROWS ? h("p", { class: "hint" }, t("And {count} more rows.", { count: ignored.length - SHOWN_ROWS })) : null);
    }
  } else if (job.status === "refused") {
    parts.push(h("p", { class: "badge badge--refused" }, t("Not applied")),
      h("p", {}, t("Nothing of this bundle was applied. Correct each problem in the school's system and export again.")),
      problemsTable(job.faults || []));
  } else {
    parts.push(h("p", { class: "badge badge--failed" }, t("Failed")),
      job.faults && job.faults[0] && job.faults[0].error
        ? h("p", {}, job.faults[0].error)
        : h("p", {}, t("The upload could not be applied: send it again later.")));
  }
  return parts.filter(Boolean);
}

function jobMessage(job) {
  if (job.status === "applied") {
    const result = job.result || {};
    return t("The bundle is applied: {rows} read, {changes} taken.", {
      rows: plural(result.rows || 0, "row"), changes: plural(result.events || 0, "change") });
  }
  if (job.status === "refused") {
    return t("The bundle was not applied: {problems}, listed by file and line.",
             { problems: plural((job.faults || []).length, "problem") });
  }
  return t("The upload could not be applied: send it again later.");
}

/** The upload form and the job it started: `?job=<id>` in the address, so a reload (or
 * coming back) shows the job again. */
function uploadForm(url, onDone) {
  const id = uniqueId("bundle");
  const hintId = `${id}-hint`;
  const input = h("input", { type: "file", id, name: "bundle", accept: ".zip,application/zip",
                             "aria-describedby": hintId });
  const problems = h("div", {});
  const jobHeadingId = uniqueId("job");
  const jobBody = h("div", {});
  const jobPart = h("section", { class: "job", "aria-labelledby": jobHeadingId, hidden: true },
    h("h3", { id: jobHeadingId }, t("The latest upload")), jobBody);
  let following = null;

  const follow = async (job) => {
    const jobId = job.job_id;
    following = jobId;
    jobPart.hidden = false;
    jobBody.replaceChildren(...jobView(job));
    try {
      while (!JOB_ENDED.includes(job.status)) {
        await sleep(POLL_MS);
        if (!jobPart.isConnected || following !== jobId) return;
        job = await api.call("GET", `${JOB_URL}${encodeURIComponent(jobId)}`);
        if (!jobPart.isConnected || following !== jobId) return;
        jobBody.replaceChildren(...jobView(job));
      }
    } catch (error) {
      if (jobPart.isConnected) announceError(explainError(error));
      return;
    }
    return job;
  };

  const submit = async () => {
    problems.replaceChildren();
    const file = input.files && input.files[0];
    if (!file) {
      announceError(t("Choose the bundle's zip file first."));
      input.focus();
      return;
    }
    const data = new FormData();
    data.append("bundle", file);
    let job;
    try {
      job = await (await api.callRaw("POST", "/api/v1/school-data/oneroster", data)).json();
    } catch (error) {
      const rows = (error.details && error.details.rows) || [];
      if (rows.length) {
        problems.replaceChildren(problemsTable(rows));
        announceError(t("The bundle was not applied: {problems}, listed below by file and line. Nothing of it was applied.",
                         { problems: plural(rows.length, "problem") }));
      } else {
        announceError(explainError(error));
      }
      return;
    }
    input.value = "";
    history.replaceState(null, "", `/school-data?job=${encodeURIComponent(job.job_id)}`);
    if (JOB_ENDED.includes(job.status)) {
      announce(job.status === "applied"
        ? t("This bundle was uploaded before and is applied: nothing new was applied.")
        : jobMessage(job));
      follow(job);
      return;
    }
    announce(t("The bundle is received and checked: it is being applied. Its progress shows below."));
    const ended = await follow(job);
    if (ended) {
      (ended.status === "applied" ? announce : announceError)(jobMessage(ended));
      onDone();
    }
  };

  const resume = async () => {
    const jobId = url.searchParams.get("job");
    if (!jobId) return;
    try {
      const job = await api.call("GET", `${JOB_URL}${encodeURIComponent(jobId)}`);
      if (!JOB_ENDED.includes(job.status) && (await follow(job))) onDone();
      else if (JOB_ENDED.includes(job.status)) follow(job);
    } catch (error) {
      if (error.status !== 404) announceError(explainError(error));
    }
  };

  const element = [form(submit,
    h("div", { class: "field" }, h("label", { for: id }, t("OneRoster bundle (zip)")),
      h("p", { id: hintId, class: "hint" }, t("The zip your school's system exports as OneRoster 1.2 CSV (or 1.1), with its manifest. A bundle with any problem is not applied at all: each problem is listed by file and line.")),
      input),
    button(t("Upload")), problems), jobPart];
  return { element, resume };
}

/** The school's OneRoster choices (PUT /api/v1/school-data/oneroster/settings). */
async function rosterSettingsCard() {
  let settings;
  try {
    settings = await api.call("GET", "/api/v1/school-data/oneroster/settings");
  } catch (error) {
    return card(t("OneRoster settings"), h("p", {}, t("The settings could not be read: {error}", { error: explainError(error) })));
  }
  const legendId = uniqueId("roles");
  const roles = CONTACT_ROLES.map(([role, label]) => [role, checkbox(t(label),
    settings.report_contact_roles.includes(role))]);
  const orgs = field({ label: t("Your school's OneRoster org ids"), name: "school-org-ids",
    autocomplete: "off", required: false,
    hint: t("Only for an export that holds several schools (a district's or a trust's): the sourcedId of your school in its orgs.csv, several separated by commas. Rows that belong only to other schools are then not taken, only counted."),
    attrs: { value: settings.school_org_ids.join(", ") } });
  const save = async () => {
    orgs.setError(null);
    const body = {
      report_contact_roles: roles.filter(([, box]) => box.input.checked).map(([role]) => role),
      school_org_ids: orgs.input.value.split(",").map((s) => s.trim()).filter(Boolean),
    };
    try {
      const saved = await api.call("PUT", "/api/v1/school-data/oneroster/settings", body);
      orgs.input.value = saved.school_org_ids.join(", ");
      announce(t("The OneRoster settings are saved. They apply from the next upload."));
    } catch (error) {
      const problem = error.fields && error.fields.school_org_ids;
      if (problem) {
        orgs.setError(Array.isArray(problem) ? String(problem[0]) : Object.values(problem).flat().join(" "));
        orgs.input.focus();
      }
      announceError(explainError(error));
    }
  };
  return card(t("OneRoster settings"), form(save,
    h("fieldset", { class: "fieldset", "aria-describedby": `${legendId}-hint` },
      h("legend", { id: legendId }, t("Contacts who receive reports")),
      h("p", { id: `${legendId}-hint`, class: "hint" }, t("When a contact's row in your export does not say whether they receive reports (metadata.receivesReports), their role decides. Until you choose, no contact from OneRoster receives reports.")),
      roles.map(([, box]) => box.wrapper)),
    orgs.wrapper,
    button(t("Save the settings"))));
}

async function schoolDataScreen(url) {
  const [first, settingsCard] = await Promise.all([
    api.call("GET", "/api/v1/school-data/batches?limit=25"), rosterSettingsCard()]);
  const rows = h("tbody", {}, first.items.map(batchRow));
  const empty = h("p", { hidden: first.items.length > 0 }, t("Nothing has arrived from the school's system yet."));
  let next = first.next;
  const more = h("button", { type: "button", class: "button button--secondary", hidden: !next,
    onclick: async () => {
      try {
        const page = await api.call("GET", `/api/v1/school-data/batches?limit=25&after=${encodeURIComponent(next)}`);
        rows.append(...page.items.map(batchRow));
        next = page.next;
        more.hidden = !next;
      } catch (error) {
        announceError(explainError(error));
      }
    } }, t("Show older batches"));
  const reload = async () => {
    const fresh = await api.call("GET", "/api/v1/school-data/batches?limit=25");
    rows.replaceChildren(...fresh.items.map(batchRow));
    empty.hidden = fresh.items.length > 0;
    next = fresh.next;
    more.hidden = !next;
  };
  const upload = uploadForm(url, () => reload().catch(() => {}));
  show(t("School data"),
    h("p", {}, t("What the school's system sent. An event it sent with a problem is rejected on its own, by its number in the batch; the rest of the batch is applied. Pupil Progress keeps no copy of what was sent, only these counts.")),
    h("h2", {}, t("Batches received")),
    empty,
    table(t("Batches, newest first"), [t("Received"), t("From"), t("Events"), t("Accepted"), t("Rejected")], rows),
    more,
    card(t("Upload a OneRoster bundle"), upload.element),
    settingsCard);
  upload.resume();
}

async function batchScreen(batchId) {
  let batch;
  try {
    batch = await api.call("GET", `/api/v1/school-data/batches/${encodeURIComponent(batchId)}`);
  } catch (error) {
    unavailable(t("Batch not available"), error, "/school-data", t("All batches"));
    return;
  }
  show(t("Batch received {date}", { date: formatDateTime(batch.received_at) }),
    summary([[t("Batch id"), batch.batch_id], [t("From"), SOURCE_TEXT[batch.source] || batch.source],
             [t("Events"), String(batch.events)], [t("Accepted"), String(batch.accepted)],
             [t("Rejected"), String(batch.rejected_count)]]),
    h("h2", {}, t("Rejected events")),
    batch.rejected.length
      ? [h("p", {}, t("Each rejected event by its number in the batch (the first is 0), the school's id of the record it was about, and the reason. Find the record by that id in the school's system, correct it and send it again.")),
        table(t("Rejected events and why"), [t("Event number"), t("School's id of the record"), t("Reason")],
          batch.rejected.map((r) => h("tr", {}, h("td", {}, String(r.index)),
            h("td", {}, r.source_id || t("Not given (or not valid)")), h("td", {}, r.error))))]
      : h("p", {}, t("Every event of this batch was accepted.")),
    h("p", {}, h("a", { href: "/school-data" }, t("All batches"))));
}

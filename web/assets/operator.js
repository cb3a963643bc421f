// The operator's console (issue 15): schools with their authorisation records, their
// administrators and school-system credentials, offboarding with each service's progress,
// new versions of the privacy notice, and the operators' two-step sign-in. Only the public
// API; every text is in the web catalogues (i18n.js, issue 29); the accessible names the
// browser tests rely on are listed in web/README.md ("Operator console").

import * as api from "./api.js";
import { formatDate, h, uniqueId } from "./dom.js";
import { N_, t, texts } from "./i18n.js";
import { operatorTwoStepSection, ownTwoStepSection, schoolTwoStepSection } from "./two-step.js";
import { allPages, announce, announceError, button, checkbox, explainError, field, form,
         navigate, saveDownload, SERVICE_TEXT, session, show, summary, table } from "./ui.js";

const SCHOOL_STATE = texts({ active: N_("Active"), offboarding: N_("Offboarding"),
                             offboarded: N_("Offboarded") });
const ANSWER_TEXT = texts({ pending: N_("Waiting"), done: N_("Erased"), failed: N_("Failed") });
const OFFBOARDING_STATE = texts({ in_progress: N_("In progress"), completed: N_("Completed"),
                                  failed: N_("Failed") });
const POLL_MS = 1500; // offboarding progress: each service answers within seconds
const UUID = "[0-9a-fA-F-]{36}";

export function navItems() {
  return [[t("Schools"), "/schools"], [t("Privacy notice"), "/privacy-notices"],
          [t("Two-step sign-in"), "/two-step"], [t("Sign out"), "/sign-out"]];
}

export async function route(path) {
  const match = path.match(new RegExp(`^/schools/(${UUID})$`));
  if (path === "/schools") await schoolsScreen();
  else if (path === "/schools/new") newSchoolScreen();
  else if (match) await schoolScreen(match[1].toLowerCase());
  else if (path === "/privacy-notices") await noticesScreen();
  else if (path === "/two-step") await twoStepScreen();
  else return false;
  return true;
}

/** Two-step sign-in: the operators' (resetting another's) and one's own. */
async function twoStepScreen() {
  const operators = await operatorTwoStepSection(session.me && session.me.id);
  show(t("Two-step sign-in"), operators, ownTwoStepSection());
}

// --- small pieces ---------------------------------------------------------------------------

function serviceName(service) {
  return SERVICE_TEXT[service] ? `${SERVICE_TEXT[service]} (${service})` : service;
}

/** A region: a <section> named by its heading (get_by_role("region", name=…)). */
function region(title, ...content) {
  const id = uniqueId("section");
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, title),
    ...content);
}

/** The API's field errors beside their fields (nested ones by their dotted path); the
 *  first field in error takes the focus. True when some field took an error. */
function showFieldErrors(error, fieldsByName) {
  const flat = {};
  const walk = (value, path) => {
    if (Array.isArray(value)) flat[path] = value.join(" ");
    else if (value && typeof value === "object") {
      Object.entries(value).forEach(([key, inner]) => walk(inner, path ? `${path}.${key}` : key));
    }
  };
  walk(error.fields || {}, "");
  let first = null;
  for (const [name, entry] of Object.entries(fieldsByName)) {
    entry.setError(flat[name] || null);
    if (flat[name] && !first) first = entry;
  }
  if (first) first.input.focus();
  return Boolean(first);
}

/** A danger zone's "are you sure?": a group with its own heading and two buttons. */
function confirmBox(title, text, yesLabel, onYes, onNo) {
  const headingId = uniqueId("confirm");
  const buttons = () => box.querySelectorAll("button");
  const yes = async () => {
    buttons().forEach((b) => { b.disabled = true; }); // one DELETE, however many clicks
    try {
      await onYes();
    } finally {
      buttons().forEach((b) => { b.disabled = false; });
    }
  };
  const box = h("div", { class: "confirm", role: "group", "aria-labelledby": headingId },
    h("h3", { id: headingId, tabindex: "-1" }, title),
    h("p", {}, text),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "button button--danger", onclick: yes }, yesLabel),
      h("button", { type: "button", class: "button button--secondary", onclick: onNo },
        t("Cancel"))));
  return box;
}

// --- schools --------------------------------------------------------------------------------

function authorisationText(authorisation) {
  if (!authorisation) return t("Not recorded");
  const parts = [authorisation.reference || t("No reference")];
  if (authorisation.authorised_by) parts.push(t("signed off by {name}", { name: authorisation.authorised_by }));
  if (authorisation.date) parts.push(t("on {date}", { date: formatDate(authorisation.date) }));
  return parts.join(", ");
}

function progressText(offboarding) {
  const answers = Object.values(offboarding.services || {});
  const erased = answers.filter((a) => a === "done").length;
  if (offboarding.status === "completed") return t("every part has erased its data");
  if (answers.some((a) => a === "failed")) {
    return t("{erased} of {total} parts erased, some failed", { erased, total: answers.length });
  }
  return t("{erased} of {total} parts erased", { erased, total: answers.length });
}

function stateText(school, offboarding) {
  const state = SCHOOL_STATE[school.status] || school.status;
  return offboarding && school.status !== "active" ? `${state} (${progressText(offboarding)})` : state;
}

async function schoolsScreen() {
  const [schools, offboardings] = await Promise.all([
    allPages("/api/v1/schools?limit=100"),
    allPages("/api/v1/offboardings?limit=100").catch(() => []),
  ]);
  const progress = Object.fromEntries(offboardings.map((o) => [o.school_id, o]));
  schools.sort((a, b) => (a.status === "active" ? 0 : 1) - (b.status === "active" ? 0 : 1)
    || a.name.localeCompare(b.name, "en-GB"));
  show(t("Schools"),
    h("p", {}, t("The schools Pupil Progress processes data for. Each is the data controller; it is activated on its written authorisation and offboarded when its contract ends.")),
    h("p", {}, h("a", { href: "/schools/new", class: "button" }, t("Add a school"))),
    schools.length
      ? table(t("Schools and their authorisation"),
        [t("School"), t("State"), t("Authorisation"), t("Student accounts")],
        schools.map((school) => h("tr", {},
          h("th", { scope: "row" },
            h("a", { href: `/schools/${encodeURIComponent(school.id)}` }, school.name)),
          h("td", {}, stateText(school, progress[school.id])),
          h("td", {}, authorisationText(school.authorisation)),
          h("td", {}, school.student_accounts ? t("On") : t("Off")))))
      : h("p", {}, t("There are no schools yet.")));
}

function newSchoolScreen() {
  const name = field({ label: t("School name"), name: "name", autocomplete: "off" });
  const reference = field({ label: t("Reference"), name: "reference", autocomplete: "off",
                            hint: t("The school's data protection assessment or agreement, e.g. DPIA-2026-014.") });
  const by = field({ label: t("Authorised by"), name: "authorised_by", autocomplete: "off",
                     hint: t("Who signed it off for the school, e.g. the headteacher.") });
  const date = field({ label: t("Date authorised"), name: "date", type: "date" });
  const students = checkbox(t("Students get their own accounts"), false,
    t("Students with an email address in the school's data are invited to read their own reports."));
  const fields = { name, "authorisation.reference": reference,
                   "authorisation.authorised_by": by, "authorisation.date": date };

  const submit = async () => {
    const missing = [[name, t("Enter the school's name.")], [reference, t("Enter the authorisation's reference.")],
                     [by, t("Enter who authorised it.")], [date, t("Enter the date it was authorised.")]]
      .filter(([entry, message]) => { entry.setError(entry.input.value.trim() ? null : message);
                                      return !entry.input.value.trim(); });
    if (missing.length) {
      missing[0][0].input.focus();
      announceError(t("{count} fields to complete.", { count: missing.length }));
      return;
    }
    try {
      const created = await api.call("POST", "/api/v1/schools", {
        name: name.input.value.trim(),
        student_accounts: students.input.checked,
        authorisation: { reference: reference.input.value.trim(),
                         authorised_by: by.input.value.trim(), date: date.input.value },
      });
      await navigate(`/schools/${encodeURIComponent(created.id)}`);
      announce(t("{school} is active. Next: invite its administrator and issue its system's credentials.",
                 { school: name.input.value.trim() }));
    } catch (error) {
      if (error.status === 422 && showFieldErrors(error, fields)) {
        announceError(t("Some fields need correcting."));
        return;
      }
      announceError(explainError(error));
    }
  };

  show(t("Add a school"),
    h("p", {}, t("The school is active as soon as it is added. Record the authorisation it gave: Pupil Progress processes its data only on that instruction.")),
    form(submit,
      name.wrapper,
      h("fieldset", { class: "fieldset" },
        h("legend", {}, t("The school's authorisation")),
        reference.wrapper, by.wrapper, date.wrapper),
      students.wrapper,
      button(t("Add the school"))),
    h("p", {}, h("a", { href: "/schools" }, t("Back to the schools"))));
}

async function loadSchool(schoolId) {
  try {
    return await api.call("GET", `/api/v1/schools/${encodeURIComponent(schoolId)}`);
  } catch (error) {
    if (error.status === 404) return null;
    throw error;
  }
}

async function schoolScreen(schoolId) {
  const school = await loadSchool(schoolId);
  if (!school) {
    show(t("School not found"), h("p", {}, t("There is no school with this address.")),
      h("p", {}, h("a", { href: "/schools" }, t("All schools"))));
    return;
  }
  const active = school.status === "active";
  const auth = school.authorisation;
  const twoStep = active ? await schoolTwoStepSection(school.id, session.me && session.me.id) : null;
  show(school.name,
    summary([
      [t("State"), SCHOOL_STATE[school.status] || school.status],
      [t("Added on"), formatDate(school.created_at)],
      [t("Authorisation reference"), auth && auth.reference ? auth.reference : t("Not recorded")],
      [t("Authorised by"), auth && auth.authorised_by ? auth.authorised_by
        : (school.status === "offboarded" ? t("Erased at offboarding") : t("Not recorded"))],
      [t("Date authorised"), auth && auth.date ? formatDate(auth.date) : t("Not recorded")],
      school.offboarded_at ? [t("Offboarding started"), formatDate(school.offboarded_at)] : null,
    ]),
    active ? settingsSection(school) : null,
    active ? adminsSection(school) : null,
    twoStep,
    active ? credentialsSection(school) : null,
    offboardingSection(school),
    h("p", {}, h("a", { href: "/schools" }, t("All schools"))));
}

function settingsSection(school) {
  const students = checkbox(t("Students get their own accounts"), school.student_accounts,
    t("Students with an email address in the school's data are invited to read their own reports."));
  // The school office: shown to its parents wherever the app says "contact the school".
  const email = field({ label: t("Office email"), type: "email", name: "office-email", required: false,
                        autocomplete: "off", hint: t("Parents see it wherever the app asks them to contact the school.") });
  const phone = field({ label: t("Office phone"), type: "tel", name: "office-phone", required: false,
                        autocomplete: "off", hint: t("For example 01632 960 123.") });
  email.input.value = school.office_email || "";
  phone.input.value = school.office_phone || "";
  const submit = async () => {
    email.setError(null);
    phone.setError(null);
    try {
      const saved = await api.call("PATCH", `/api/v1/schools/${encodeURIComponent(school.id)}`, {
        student_accounts: students.input.checked,
        office_email: email.input.value.trim() || null,
        office_phone: phone.input.value.trim() || null });
      students.input.checked = saved.student_accounts;
      email.input.value = saved.office_email || "";
      phone.input.value = saved.office_phone || "";
      const contact = [saved.office_email, saved.office_phone].filter(Boolean).join(", ") || t("not given");
      announce(saved.student_accounts
        ? t("Saved: students get their own accounts; the office's contact is {contact}.", { contact })
        : t("Saved: students do not get their own accounts; the office's contact is {contact}.", { contact }));
    } catch (error) {
      const fields = error.fields || {};
      if (fields.office_email) email.setError(fields.office_email[0]);
      if (fields.office_phone) phone.setError(fields.office_phone[0]);
      announceError(explainError(error));
      if (fields.office_email) email.input.focus();
      else if (fields.office_phone) phone.input.focus();
    }
  };
  return region(t("Settings"), form(submit, students.wrapper, email.wrapper, phone.wrapper,
                                    button(t("Save the settings"))));
}

// --- administrators -------------------------------------------------------------------------

function adminRow(school, admin) {
  const resend = admin.status === "invited"
    ? h("button", { type: "button", class: "button button--secondary", onclick: async (event) => {
      const target = event.currentTarget;
      target.disabled = true;
      try {
        await api.call("POST", `/api/v1/accounts/${encodeURIComponent(admin.id)}/invitation`
                               + `?school_id=${encodeURIComponent(school.id)}`);
        announce(t("A new invitation has been sent to {name}. The earlier link no longer works.", { name: admin.name }));
      } catch (error) {
        announceError(error.status === 429
          ? t("Invitations to this person are capped each hour: please try again later.")
          : explainError(error));
      } finally {
        target.disabled = false;
      }
    } }, t("Send {name} a new invitation", { name: admin.name }))
    : null;
  return h("tr", { dataset: { account: admin.id } },
    h("th", { scope: "row" }, admin.name),
    h("td", {}, admin.email),
    h("td", {}, admin.status === "active"
      ? t("Active since {date}", { date: formatDate(admin.activated_at) })
      : t("Invited on {date}", { date: formatDate(admin.invited_at) })),
    h("td", {}, resend || "—"));
}

function adminsSection(school) {
  const rows = h("tbody", {}, school.admins.map((admin) => adminRow(school, admin)));
  const listed = table(t("Administrators of the school"), [t("Name"), t("Email"), t("State"), t("Invitation")],
                       rows, { hidden: school.admins.length === 0 });
  const none = h("p", { hidden: school.admins.length > 0 }, t("No administrator yet: invite the school's first one below."));
  const name = field({ label: t("Name"), name: "admin_name", autocomplete: "off" });
  const email = field({ label: t("Email"), name: "admin_email", type: "email", autocomplete: "off" });
  const submit = async () => {
    const blanks = [[name, t("Enter the administrator's name.")], [email, t("Enter their email address.")]]
      .filter(([entry, message]) => { entry.setError(entry.input.value.trim() ? null : message);
                                      return !entry.input.value.trim(); });
    if (blanks.length) {
      blanks[0][0].input.focus();
      return;
    }
    const body = { name: name.input.value.trim(), email: email.input.value.trim(),
                   role: "school_admin" };
    try {
      const created = await api.call("POST", `/api/v1/schools/${encodeURIComponent(school.id)}/staff`, body);
      const existing = rows.querySelector(`[data-account="${CSS.escape(created.id)}"]`);
      const row = adminRow(school, { id: created.id, name: body.name, email: body.email,
                                     status: "invited", invited_at: new Date().toISOString() });
      if (existing) existing.replaceWith(row); else rows.append(row);
      listed.hidden = false;
      none.hidden = true;
      name.input.value = "";
      email.input.value = "";
      announce(t("Invitation sent to {name}: they choose a password from the email's link.", { name: body.name }));
    } catch (error) {
      if (error.status === 409) {
        email.setError(error.message);
        email.input.focus();
        announceError(error.message);
        return;
      }
      if (error.status === 422 && showFieldErrors(error, { name, email })) {
        announceError(t("Some fields need correcting."));
        return;
      }
      announceError(explainError(error));
    }
  };
  return region(t("School administrators"),
    h("p", { class: "hint" }, t("Names and email addresses of the school's administrators are shown to operators only, to set the school up.")),
    none, listed,
    h("h3", {}, t("Invite a school administrator")),
    form(submit, name.wrapper, email.wrapper, button(t("Send the invitation"))));
}

// --- school-system credentials ----------------------------------------------------------------

function credentialsSection(school) {
  const section = region(t("School-system credentials"),
    h("p", {}, t("The school's management information system pushes its data with these credentials (client credentials). Each school's system can reach only that school's intake.")));
  const rows = h("tbody", {});
  const listed = table(t("Credentials issued"), [t("Client id"), t("Issued"), t("State"), t("Action")], rows);
  const none = h("p", {}, t("No credentials issued yet."));
  const fresh = h("div", { class: "fresh-secret-slot" });

  const redraw = (clients) => {
    rows.replaceChildren(...clients.map((client) => clientRow(school, client, section, redraw)));
    listed.hidden = clients.length === 0;
    none.hidden = clients.length > 0;
  };
  redraw(school.clients);

  const issue = h("button", { type: "button", class: "button", onclick: async () => {
    issue.disabled = true;
    try {
      const client = await api.call("POST", `/api/v1/schools/${encodeURIComponent(school.id)}/clients`);
      school.clients.push({ client_id: client.client_id, created_at: new Date().toISOString(),
                            revoked_at: null });
      redraw(school.clients);
      fresh.replaceChildren(freshSecret(client, () => { fresh.replaceChildren(); issue.focus(); }));
      fresh.querySelector("h3").focus();
      announce(t("New credentials issued. The secret is shown only once: copy it now."));
    } catch (error) {
      announceError(explainError(error));
    } finally {
      issue.disabled = false;
    }
  } }, t("Issue new credentials"));
  section.append(none, listed, fresh, h("div", { class: "actions" }, issue));
  return section;
}

/** The secret, once: the API keeps only its hash, so nobody can show it again. */
function freshSecret(client, onDone) {
  const headingId = uniqueId("fresh");
  const idField = uniqueId("client-id");
  const secretField = uniqueId("client-secret");
  const noteId = uniqueId("once");
  const secret = h("input", { type: "text", id: secretField, class: "code", readonly: true,
                              value: client.client_secret, "aria-describedby": noteId,
                              autocomplete: "off", spellcheck: "false" });
  const copy = h("button", { type: "button", class: "button button--secondary", onclick: async () => {
    try {
      await navigator.clipboard.writeText(client.client_secret);
      announce(t("The secret is copied."));
    } catch {
      secret.select();
      announceError(t("The browser did not allow copying: the secret is selected, copy it with the keyboard."));
    }
  } }, t("Copy the secret"));
  return h("section", { class: "notice fresh-secret", "aria-labelledby": headingId },
    h("h3", { id: headingId, tabindex: "-1" }, t("New credentials: the secret is shown only once")),
    h("p", { id: noteId, class: "once" }, t("Shown only once: copy the secret now and give it to the school's system securely. Pupil Progress keeps only a hash of it and cannot show it again; if it is lost, issue new credentials and revoke these.")),
    h("div", { class: "field" }, h("label", { for: idField }, t("Client id")),
      h("input", { type: "text", id: idField, class: "code", readonly: true,
                   value: client.client_id, autocomplete: "off", spellcheck: "false" })),
    h("div", { class: "field" }, h("label", { for: secretField }, t("Client secret")), secret),
    h("div", { class: "actions" }, copy,
      h("button", { type: "button", class: "button", onclick: onDone }, t("I have copied the secret"))));
}

function clientRow(school, client, section, redraw) {
  const short = client.client_id.slice(0, 8);
  let action = "—";
  if (!client.revoked_at) {
    const revoke = h("button", { type: "button", class: "button button--secondary",
                                 "aria-label": t("Revoke {client}", { client: client.client_id }) }, t("Revoke"));
    revoke.addEventListener("click", () => {
      const box = confirmBox(t("Revoke credentials {client}…?", { client: short }),
        t("The school's system can no longer get a token with them; tokens it already has stop working within 15 minutes."),
        t("Yes, revoke them"),
        async () => {
          try {
            await api.call("DELETE", `/api/v1/schools/${encodeURIComponent(school.id)}/clients/${encodeURIComponent(client.client_id)}`);
            client.revoked_at = new Date().toISOString();
            box.remove();
            redraw(school.clients);
            announce(t("Credentials {client}… revoked.", { client: short }));
            section.querySelector("h2").focus();
          } catch (error) {
            announceError(explainError(error));
          }
        },
        () => { box.remove(); revoke.focus(); });
      section.querySelectorAll(".confirm").forEach((other) => other.remove());
      section.append(box);
      box.querySelector("h3").focus();
    });
    action = revoke;
  }
  return h("tr", {},
    h("th", { scope: "row" }, h("code", {}, client.client_id)),
    h("td", {}, formatDate(client.created_at)),
    h("td", {}, client.revoked_at ? t("Revoked on {date}", { date: formatDate(client.revoked_at) }) : t("In use")),
    h("td", {}, action));
}

// --- offboarding ----------------------------------------------------------------------------

function offboardingSection(school) {
  if (school.status === "active") {
    const start = h("button", { type: "button", class: "button button--danger" },
      t("Offboard {school}", { school: school.name }));
    const section = region(t("Offboarding"),
      h("p", {}, t("When the school's contract ends, offboarding stops it at once (its people can no longer sign in, its system can no longer push) and every part of Pupil Progress erases the school's data. This cannot be undone.")),
      h("div", { class: "actions" }, start));
    start.addEventListener("click", () => {
      const box = confirmBox(t("Offboard {school}?", { school: school.name }),
        t("Every part of Pupil Progress erases this school's data: reports, links, accounts, requests in progress. Only the school's name and its offboarding are kept."),
        t("Yes, offboard {school}", { school: school.name }),
        async () => {
          try {
            await api.call("DELETE", `/api/v1/schools/${encodeURIComponent(school.id)}`);
            await navigate(`/schools/${encodeURIComponent(school.id)}`, { replace: true });
            announce(t("Offboarding {school}: each part of the system is erasing its data.", { school: school.name }));
          } catch (error) {
            announceError(explainError(error));
          }
        },
        () => { box.remove(); start.focus(); });
      section.querySelectorAll(".confirm").forEach((other) => other.remove());
      section.append(box);
      box.querySelector("h3").focus();
    });
    return section;
  }
  const state = h("p", { class: "offboarding-state" }, t("Waiting for the first answers…"));
  const listId = uniqueId("progress");
  const list = h("ul", { class: "progress-list", id: listId,
                         "aria-label": t("Progress in each part of the system") });
  const certificate = h("div", { hidden: true },
    h("p", {}, t("The offboarding certificate is every part's signed statement that the school's data is gone, with no personal data in it; anyone can check the signatures without us.")),
    h("div", { class: "actions" }, h("button", { type: "button", class: "button button--secondary", onclick: async () => {
      try {
        await saveDownload(await api.callRaw("GET", `/api/v1/offboardings/${encodeURIComponent(school.id)}/receipt`),
          `offboarding-${school.id}.jws`);
        announce(t("The offboarding certificate is downloaded."));
      } catch (error) {
        announceError(explainError(error));
      }
    } }, t("Download the offboarding certificate"))));
  const section = region(t("Offboarding progress"),
    h("p", {}, t("Each part of the system erases the school's data and says so; the offboarding is complete when every part has.")),
    state, list, certificate);
  followOffboarding(school, section, state, list, certificate);
  return section;
}

/** Ask dsar for the progress until every service has answered, while this screen shows;
 *  the end is announced when it came while the operator watched. */
async function followOffboarding(school, section, state, list, certificate) {
  const wait = (ms) => new Promise((resolve) => { window.setTimeout(resolve, ms); });
  let watched = false;
  for (let first = true; ; first = false) {
    await wait(first ? 0 : POLL_MS); // the first ask waits for the screen to be shown
    if (!section.isConnected) return; // the operator moved on
    let offboarding;
    try {
      offboarding = await api.call("GET", `/api/v1/offboardings/${encodeURIComponent(school.id)}`);
    } catch (error) {
      // 404: dsar has not had SchoolOffboarded yet, a moment after the request.
      if (error.status !== 404) state.textContent = t("The progress could not be read ({problem}). Trying again…", { problem: explainError(error) });
      watched = true;
      continue;
    }
    if (!section.isConnected) return;
    drawProgress(offboarding, state, list);
    certificate.hidden = offboarding.status !== "completed";
    if (offboarding.status !== "completed" && offboarding.status !== "failed") {
      watched = true;
      continue;
    }
    if (watched) {
      announce(offboarding.status === "completed"
        ? t("Offboarding of {school} is complete: every part of the system has erased its data.", { school: school.name })
        : t("Offboarding of {school} failed in some parts of the system.", { school: school.name }));
    }
    return;
  }
}

function drawProgress(offboarding, state, list) {
  const entries = Object.entries(offboarding.services || {});
  const erased = entries.filter(([, answer]) => answer === "done").length;
  state.replaceChildren(
    h("span", { class: `badge badge--${offboarding.status}` },
      OFFBOARDING_STATE[offboarding.status] || offboarding.status),
    " ",
    offboarding.status === "completed"
      ? t("Every part of the system erased the school's data (completed on {date}).", { date: formatDate(offboarding.completed_at) })
      : t("{erased} of {count} parts of the system have erased the school's data.", { erased, count: entries.length }));
  list.replaceChildren(...entries.map(([service, answer]) => h("li", { class: `answer answer--${answer}` },
    t("{service}: {progress}", { service: serviceName(service), progress: ANSWER_TEXT[answer] || answer }),
    offboarding.reasons && offboarding.reasons[service] ? ` (${offboarding.reasons[service]})` : "")));
}

// --- privacy notice ---------------------------------------------------------------------------

async function noticesScreen() {
  const versions = await api.publicCall("GET", "/api/v1/privacy-notices").then((a) => a.items);
  const rows = h("tbody", {});
  const listed = table(t("Published versions"), [t("Version"), t("In effect from"), t("Published on")],
                       rows);
  const none = h("p", {}, t("No version has been published yet."));
  const redraw = (items) => {
    rows.replaceChildren(...items.map((notice) => h("tr", {},
      h("th", { scope: "row" },
        h("a", { href: `/privacy?version=${encodeURIComponent(notice.version)}` }, notice.version)),
      h("td", {}, formatDate(notice.effective_date)),
      h("td", {}, formatDate(notice.announced_at)))));
    listed.hidden = items.length === 0;
    none.hidden = items.length > 0;
  };
  redraw(versions);

  const version = field({ label: t("Version"), name: "version", autocomplete: "off",
                          hint: t("As written on the notice, e.g. 2027-02.") });
  const effective = field({ label: t("In effect from"), name: "effective_date", type: "date",
                            hint: t("Give schools notice: their administrators are emailed now.") });
  const words = field({ label: t("Text of the notice"), name: "text", multiline: true,
                        attrs: { rows: "12", maxlength: "100000" },
                        hint: t("As people will read it: a blank line between paragraphs. The email links to this text; once published it cannot change (publish a new version instead).") });
  const submit = async () => {
    const blanks = [[version, t("Enter the version.")], [effective, t("Enter the date it takes effect.")],
                    [words, t("Enter the text of the notice.")]]
      .filter(([entry, message]) => { entry.setError(entry.input.value.trim() ? null : message);
                                      return !entry.input.value.trim(); });
    if (blanks.length) {
      blanks[0][0].input.focus();
      return;
    }
    const body = { version: version.input.value.trim(), effective_date: effective.input.value,
                   text: words.input.value.trim() };
    try {
      const answer = await api.call("POST", "/api/v1/privacy-notices", body);
      const fresh = await api.publicCall("GET", "/api/v1/privacy-notices").then((a) => a.items);
      redraw(fresh);
      version.input.value = "";
      effective.input.value = "";
      words.input.value = "";
      announce(t("Version {version} published: {count} school administrators told by email.",
                 { version: body.version, count: answer.notified }));
    } catch (error) {
      if ((error.status === 422 || error.status === 409)
          && showFieldErrors(error, { version, effective_date: effective, text: words })) {
        announceError(t("Some fields need correcting."));
        return;
      }
      announceError(explainError(error));
    }
  };

  show(t("Privacy notice"),
    h("p", {}, t("When the privacy notice changes, publish its new version here. Every school's administrators are told by email, and the version appears on “How we keep your data safe” for everyone.")),
    region(t("Publish a new version"),
      form(submit, version.wrapper, effective.wrapper, words.wrapper,
        button(t("Publish this version")))),
    h("h2", {}, t("Versions")),
    none, listed);
}

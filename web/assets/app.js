// Pupil Progress for parents and students: one page, routed in the browser, using only the
// public API under /api/v1 (what the mobile apps use). School admins and operators sign in
// here too and get their console (admin.js, operator.js). The accessible names that the
// browser tests rely on are listed in web/README.md; change them there too.

import * as api from "./api.js";
import { currentLanguage, N_, preferredLanguage, t, texts, tParts, useLanguage } from "./i18n.js";
import { accountScreen, explainPasskeyError, passkeysSupported, signInWithPasskey } from "./passkeys.js";
import { formatDate, h, uniqueId } from "./dom.js";
import { inChildOrder } from "./children.js";
import * as offline from "./offline.js";
import { reportBody, reportMeta } from "./report-view.js";
import { changeLines, loadProgress, progressSection } from "./progress.js";
import { contactSentence, drawFooter, schoolName, schools } from "./schools.js";
import { allPages, announce, announceError, button, clearMessages, dateField, explainError, field, form,
         formatDateTime, leaveMessages, loaded, loading, lockedLead, navigate, notFound, plural,
         PROGRESS_TEXT, saveDownload, selectField, SERVICE_TEXT, session, setRenderer, show, sleep,
         summary, table } from "./ui.js";

const nav = document.getElementById("site-nav");
const navList = document.getElementById("nav-list");

const STATUS_TEXT = texts({
  awaiting_school: N_("Waiting for the school"),
  in_progress: N_("In progress"),
  paused: N_("Paused by the school"),
  completed: N_("Done"),
  refused: N_("Refused by the school"),
  failed: N_("Could not be completed"),
});
const KIND_TEXT = texts({
  access: N_("A copy of your data"),
  portability: N_("A portable copy of your data"),
  erasure: N_("Erasure of your data"),
  rectification: N_("Correction of your data"),
  restriction: N_("Restriction of the use of your data"),
  objection: N_("Objection to the use of your data"),
});
const MIN_PASSWORD = 10;
// Each language named in itself (and marked so: lang="cy", lang="en").
const LANGUAGE_NAMES = [["cy", "Cymraeg"], ["en", "English"]];
const USED_LINK = N_("This link has expired or has already been used. Ask the school to send a new invitation, or ask for a new password link.");
// A login may act in several roles (a teacher who is a parent too): one at a time, switched
// from the navigation.
const ROLE_TEXT = texts({ parent: N_("parent"), student: N_("student"), school_admin: N_("school staff"),
                    operator: N_("operator") });

const state = {
  me: null,
  links: null,
  afterSignIn: null,
  fresh: false, // signed in on this page: the account may be seconds old
  staff: null, // the console module of a school admin or an operator, once loaded
  childId: null,
  offline: false, // the reader's `me` came from the copy kept on the device (offline.js)
};

// --- navigation ----------------------------------------------------------------------------

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey
      || event.ctrlKey || event.shiftKey || event.altKey || link.target
      || link.hasAttribute("download")) return; // a file to save (a blob: URL), not a screen
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/api/")) return;
  if (link.getAttribute("href").startsWith("#")) return;
  event.preventDefault();
  leaveMessages();
  navigate(url.pathname + url.search);
});

window.addEventListener("popstate", () => render());

function navItems() {
  const role = state.me && state.me.role;
  if (role === "parent") {
    return [[t("Children"), "/children"], [t("Reports"), "/reports"], [t("Requests"), "/requests"],
            [t("Notifications"), "/notifications"], [t("How we keep your data safe"), "/privacy"],
            [t("Sign out"), "/sign-out"]];
  }
  if (role === "student") {
    return [[t("Reports"), "/reports"], [t("Requests"), "/requests"],
            [t("Notifications"), "/notifications"], [t("How we keep your data safe"), "/privacy"],
            [t("Sign out"), "/sign-out"]];
  }
  if (state.staff) return state.staff.navItems();
  // Signed in, or between the password and the second factor (the code or enrolment
  // screens): the person is signed in already and may only sign out, never "Sign in".
  if (state.me || (api.hasSession() && needsSecondFactor())) {
    return [[t("How we keep your data safe"), "/privacy"], [t("Sign out"), "/sign-out"]];
  }
  return [[t("Sign in"), "/sign-in"], [t("How we keep your data safe"), "/privacy"]];
}

/** Links to the login's other roles, before "Sign out". */
function withRoleSwitch(items) {
  const others = ((state.me && state.me.roles) || []).filter((r) => r !== state.me.role && ROLE_TEXT[r]);
  if (!others.length) return items;
  const switches = others.map((r) => [t("Use as {role}", { role: ROLE_TEXT[r] }), `/switch/${r}`]);
  const last = items.length - 1;
  return items[last] && items[last][1] === "/sign-out"
    ? [...items.slice(0, last), ...switches, items[last]] : [...items, ...switches];
}

/** Account settings (passkeys), for every role, before "Sign out". */
function withAccount(items) {
  if (!state.me) return items;
  const last = items.length - 1;
  return items[last] && items[last][1] === "/sign-out"
    ? [...items.slice(0, last), [t("Account"), "/account"], items[last]] : items;
}

/** The address's path, without a trailing slash. */
function currentPath() {
  return location.pathname.replace(/\/+$/, "") || "/";
}

/** Drawn with each screen (ui.js show()), not before it: the navigation of the state signed
 *  into changes the header's height, which moved the screen being left while the next one
 *  loaded. */
function drawSurroundings() {
  drawNav(currentPath());
  drawFooter();
}

function drawNav(path) {
  navList.replaceChildren(...withRoleSwitch(withAccount(navItems())).map(([label, href]) => {
    const current = path === href || (href !== "/" && path.startsWith(`${href}/`));
    return h("li", {}, h("a", { href, "aria-current": current ? "page" : false }, label));
  }));
  nav.hidden = false;
}

// --- data ----------------------------------------------------------------------------------

/** Just after activation, the other parts of the system learn of the account within
 *  seconds: an empty answer then is asked again a few times before it is believed. */
async function settled(load, isEmpty) {
  let answer = await load();
  for (let attempt = 1; state.fresh && isEmpty(answer) && attempt <= 6; attempt += 1) {
    await sleep(400 * attempt);
    answer = await load();
  }
  return answer;
}

/** The reader's links, in the children's order (children.js): every screen lists them so. */
async function loadLinks() {
  const links = await settled(() => allPages("/api/v1/links"), (found) => !found.length);
  state.links = inChildOrder(links, linkChild);
  return state.links;
}

const linkChild = (link) => ({ name: childName(link), id: link.student.id });

function childName(link) {
  return (link.student && link.student.name) || t("Your child");
}

/** The students whose reports this reader may open: [{id, name, school_id}]. */
async function readableStudents() {
  if (state.me.role === "student") {
    return inChildOrder((state.me.student_ids || []).map((id) => ({
      id, name: state.me.name || t("You"), school_id: (state.me.school_ids || [])[0] })));
  }
  const links = await loadLinks();
  return links.filter((l) => l.status === "verified")
    .map((l) => ({ id: l.student.id, name: childName(l), school_id: l.school_id }));
}

/** The school of a student this reader may read about (a child's link, or one's own). */
async function schoolOfStudent(studentId) {
  if (state.me.role === "student") return (state.me.school_ids || [])[0];
  const links = state.links || await loadLinks();
  const link = links.find((l) => l.student.id === studentId);
  return link ? link.school_id : null;
}

// --- screens: signing in -------------------------------------------------------------------

function signInScreen(message) {
  const email = field({ label: t("Email"), type: "email", name: "email", autocomplete: "username" });
  const password = field({ label: t("Password"), type: "password", name: "password",
                           autocomplete: "current-password" });
  // A sign-in that failed is said once, here (its own alert), not in the page's alert box too.
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = async () => {
    problem.hidden = true;
    email.setError(null);
    password.setError(null);
    if (!email.input.value.trim()) { email.setError(t("Enter your email address.")); email.input.focus(); return; }
    if (!password.input.value) { password.setError(t("Enter your password.")); password.input.focus(); return; }
    try {
      await api.signIn(email.input.value.trim(), password.input.value);
      forgetReader();
      state.fresh = true;
      window.setTimeout(() => { state.fresh = false; }, 30000);
      if (needsSecondFactor()) {
        await navigate("/second-factor", { replace: true });
        return;
      }
      await afterSignIn();
      announce(t("You are signed in."));
    } catch (error) {
      problem.textContent = explainError(error);
      problem.hidden = false;
      password.input.value = "";
      password.input.focus();
    }
  };
  show(t("Sign in"),
    message ? h("p", { class: "notice" }, message) : null,
    form(submit, problem, email.wrapper, password.wrapper, button(t("Sign in"))),
    passkeySignIn(problem),
    h("p", {}, h("a", { href: "/forgot-password" }, t("Forgotten your password?"))),
    h("p", {}, t("New here? Open the link in the invitation email from your school to activate your account.")));
}

/** "Sign in with a passkey": no email, the browser offers the passkeys it holds. */
function passkeySignIn(problem) {
  if (!passkeysSupported()) return null;
  const signIn = async (event) => {
    const trigger = event.currentTarget;
    problem.hidden = true;
    trigger.disabled = true;
    try {
      await signInWithPasskey();
      forgetReader();
      state.fresh = true;
      window.setTimeout(() => { state.fresh = false; }, 30000);
      await afterSignIn();
      announce(t("You are signed in."));
    } catch (error) {
      problem.textContent = explainPasskeyError(error);
      problem.hidden = false;
    } finally {
      trigger.disabled = false;
    }
  };
  return h("div", { class: "passkey-sign-in" },
    h("p", { class: "or" }, t("or")),
    h("button", { type: "button", class: "button button--secondary", onclick: signIn },
      t("Sign in with a passkey")));
}

/** Staff and operators: the password is not enough until the second factor is passed. */
function needsSecondFactor() {
  return ["enrol", "required", "passkey"].includes(api.secondFactorState());
}

async function afterSignIn() {
  const next = state.afterSignIn || "/";
  state.afterSignIn = null;
  forgetReader();
  await navigate(next, { replace: true });
}

async function secondFactorRoute() {
  const module = await import("./second-factor.js");
  await module.secondFactorScreen(afterSignIn);
}

function tokenFromLink(path) {
  // The token leaves the address bar (and so the history) at once; it stays in the
  // history entry's state so that a reload still has it.
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (token) {
    history.replaceState({ token }, "", path);
    return token;
  }
  return (history.state && history.state.token) || null;
}

function newPasswordScreen({ title, intro, action, done, buttonLabel, path, offerLanguage = false }) {
  const token = tokenFromLink(path);
  if (!token) {
    show(title, h("p", {}, t("This page needs the link from your email. Open the link in the email again, or ask the school to send a new one.")));
    return;
  }
  const password = field({ label: t("Choose a password"), type: "password", name: "new-password",
                           autocomplete: "new-password",
                           hint: t("At least {count} characters. A few words you will remember make a good password.", { count: MIN_PASSWORD }) });
  const repeat = field({ label: t("Repeat the password"), type: "password", name: "repeat-password",
                         autocomplete: "new-password" });
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = async () => {
    problem.hidden = true;
    clearMessages();
    password.setError(null);
    repeat.setError(null);
    if (password.input.value.length < MIN_PASSWORD) {
      // Once, next to the field (issue 24): focusing it reads the error it describes.
      password.setError(t("The password needs at least {count} characters.", { count: MIN_PASSWORD }));
      password.input.focus();
      return;
    }
    if (password.input.value !== repeat.input.value) {
      repeat.setError(t("The two passwords are not the same."));
      repeat.input.focus();
      return;
    }
    try {
      const answer = await action(token, password.input.value);
      history.replaceState(null, "", path);
      api.forgetTokens();
      forgetReader();
      await navigate("/sign-in", { replace: true });
      announce(typeof done === "function" ? done(answer) : done);
    } catch (error) {
      const message = error.code === "invalid_token" ? t(USED_LINK) : explainError(error);
      if (error.code === "weak_password") {  // the field's own error, shown there alone
        password.setError(message);
        password.input.focus();
        return;
      }
      problem.textContent = message;  // once, in the form (its own alert)
      problem.hidden = false;
    }
  };
  show(title, h("p", {}, intro),
    form(submit, problem, offerLanguage ? languageChoice() : null, password.wrapper, repeat.wrapper,
         button(buttonLabel)));
}

async function activateScreen() {
  const token = tokenFromLink("/activate");
  let invitation = null;
  if (token) {
    try {
      invitation = await api.publicCall("POST", "/api/v1/auth/invitation", { token });
    } catch (error) {
      if (error.code !== "invalid_token") throw error;
      show(t("Activate your account"), h("p", {}, t(USED_LINK)));
      return;
    }
  }
  if (invitation && invitation.existing_login) {
    acceptWithOwnPasswordScreen(token);
    return;
  }
  newPasswordScreen({
    title: t("Activate your account"), path: "/activate", buttonLabel: t("Activate"),
    intro: t("Your school has set up a Pupil Progress account for you. Choose a password to activate it."),
    action: activate,
    offerLanguage: true,
    done: t("Your account is active. Sign in with your email address and the password you chose."),
  });
}

/** Activation records the language chosen on its screen; an identity service that does not
 *  know the field yet refuses it (422 naming "language"): then without it (recorded later,
 *  PATCH /api/v1/me, once signed in). */
async function activate(token, password) {
  try {
    return await api.publicCall("POST", "/api/v1/auth/activate",
                                { token, password, language: currentLanguage() });
  } catch (error) {
    if (!(error.fields && error.fields.language)) throw error;
    return api.publicCall("POST", "/api/v1/auth/activate", { token, password });
  }
}

/** The invitation of a school to a login that exists already (with this school or another,
 *  in another role): accepted with the password the person has, which never changes here. */
function acceptWithOwnPasswordScreen(token) {
  const password = field({ label: t("Your password"), type: "password", name: "password",
                           autocomplete: "current-password",
                           hint: t("The password you already use to sign in to Pupil Progress.") });
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = async () => {
    problem.hidden = true;
    clearMessages();
    password.setError(null);
    if (!password.input.value) {
      // Once, next to the field (issue 24): focusing it reads the error it describes.
      password.setError(t("Enter your password."));
      password.input.focus();
      return;
    }
    try {
      await api.publicCall("POST", "/api/v1/auth/activate", { token, password: password.input.value });
      history.replaceState(null, "", "/activate");
      api.forgetTokens();
      forgetReader();
      await navigate("/sign-in", { replace: true });
      announce(t("The invitation is accepted. Sign in with your email address and your password."));
    } catch (error) {
      const message = error.code === "invalid_token" ? t(USED_LINK)
        : error.status === 401
          ? t("That is not the password of your login, or there were too many attempts: try again later. If you have forgotten it, ask for a new one, then open this link again.")
          : explainError(error);
      problem.textContent = message;  // once, in the form (its own alert)
      problem.hidden = false;
      password.input.value = "";
      password.input.focus();
    }
  };
  show(t("Accept the invitation"),
    h("p", {}, t("You already have a Pupil Progress login with this email address. A school has invited you to use it with them too: enter the password you already use to accept. Your password does not change, and nothing is shared with the school until you accept.")),
    form(submit, problem, password.wrapper, button(t("Accept the invitation"))),
    h("p", {}, h("a", { href: "/forgot-password" }, t("Forgotten your password?"))));
}

function resetPasswordScreen() {
  newPasswordScreen({
    title: t("Choose a new password"), path: "/reset-password", buttonLabel: t("Set the password"),
    intro: t("Choose a new password for your account. You will be signed out everywhere else."),
    action: (token, password) => api.publicCall("POST", "/api/v1/auth/password-reset/confirm",
                                                { token, password }),
    // The passkeys a password could add went with the reset (a thief's among them).
    done: (answer) => (answer && answer.passkeys_removed
      ? t("Your password is changed, every device is signed out, and your passkeys are removed in case someone else added one. Sign in with the new password, then add your passkeys again in Account.")
      : t("Your password is changed. Sign in with the new password.")),
  });
}

function forgotPasswordScreen() {
  const email = field({ label: t("Email"), type: "email", name: "email", autocomplete: "username" });
  const submit = async () => {
    email.setError(null);
    if (!email.input.value.trim()) { email.setError(t("Enter your email address.")); email.input.focus(); return; }
    try {
      await api.publicCall("POST", "/api/v1/auth/password-reset", { email: email.input.value.trim() });
      announce(t("If an account uses that address, we have emailed it a link to choose a new password."));
    } catch (error) {
      announceError(explainError(error));
    }
  };
  show(t("Forgotten your password?"),
    h("p", {}, t("Enter the email address of your account. We will email you a link to choose a new password.")),
    form(submit, email.wrapper, button(t("Send me a link"))),
    h("p", {}, h("a", { href: "/sign-in" }, t("Back to sign in"))));
}

/** Signing out; `why`: the sign-in ended by itself (the passkey that began it removed),
 *  which the sign-in screen then says. */
async function signOutScreen(why = null) {
  await offline.forgetAll(); // every copy kept for reading offline leaves the device
  await api.signOut();
  forgetReader();
  state.links = null;
  state.childId = null;
  history.replaceState(null, "", "/sign-in");
  signInScreen();
  announce(why || t("You are signed out."));  // said once, in the status box
}

/** At activation: the language of the account (its emails too), each named in itself;
 *  choosing one shows this screen in it at once. */
function languageChoice() {
  const name = uniqueId("language");
  const hintId = `${name}-hint`;
  return h("fieldset", { class: "field language-choice", "aria-describedby": hintId },
    h("legend", {}, t("Your language")),
    h("p", { id: hintId, class: "hint" }, t("We use it on every screen and in every email we send you.")),
    LANGUAGE_NAMES.map(([code, label]) => {
      const id = `${name}-${code}`;
      return h("div", { class: "radio" },
        h("input", { type: "radio", id, name, value: code, checked: code === currentLanguage(),
                     onchange: () => switchLanguage(code, { fromScreen: true }) }),
        h("label", { for: id, lang: code }, label));
    }));
}

// --- screens: children ---------------------------------------------------------------------

function childSection(link, redraw) {
  const name = childName(link);
  const headingId = uniqueId("child");
  const parts = [h("h2", { id: headingId, tabindex: "-1" }, name),
    h("p", { class: "meta school-name" }, t("At {school}", { school: schoolName(link.school_id) }))];
  if (link.status === "verified") {
    parts.push(h("p", { class: "badge badge--ok" }, t("Confirmed")), latestReport(link),
      h("p", {}, h("a", { href: `/reports?student=${encodeURIComponent(link.student.id)}` },
                   t("Reports for {name}", { name }))));
  } else if (link.status === "locked") {
    parts.push(h("p", { class: "badge badge--locked" }, t("Locked")),
      contactSentence(t("The date of birth was entered wrongly 3 times, so this link is locked to keep the child's data safe. Only the school can unlock it:"), link.school_id));
  } else if (link.waiting_for_date_of_birth) {
    parts.push(h("p", { class: "badge" }, t("Waiting for the school to send a date of birth")),
      h("p", {}, t("You confirm each child with the date of birth the school has, and the school has not sent {name}'s yet. You can confirm once it does: nothing for you to do until then.", { name })),
      contactSentence(t("If you have a question,"), link.school_id));
  } else {
    const dob = dateField({ legend: t("Date of birth"), name: "date-of-birth", past: true,
                            hint: t("To keep children's data safe, confirm each child with the date of birth the school has.") });
    const submit = async () => {
      dob.setError(null);
      const { date: value, error: problem, part } = dob.read();
      if (problem) {  // said once, next to the field; a malformed date costs no attempt
        dob.setError(problem, part);
        dob.focus(part);
        return;
      }
      try {
        await api.call("POST", `/api/v1/links/${encodeURIComponent(link.id)}/verify`,
                       { date_of_birth: value });
        link.status = "verified";
        redraw(link);
        announce(t("{name} is confirmed. You can now read their reports.", { name }));
      } catch (error) {
        if (error.status === 422 && error.code === "wrong_date_of_birth") {
          const left = error.details.attempts_left;
          if (left === 0) {
            link.status = "locked";
            redraw(link);
            announceError(t("That is not the date of birth the school has. The link for {name} is now locked: only the school can unlock it.", { name }));
            return;
          }
          dob.setError(t("That is not the date of birth the school has. {count} attempts left.", { count: left }));
          dob.focus();
        } else if (error.status === 423) {
          link.status = "locked";
          redraw(link);
          announceError(explainError(error));
        } else if (error.status === 422) {
          dob.setError((error.fields && error.fields.date_of_birth && error.fields.date_of_birth[0]) || error.message);
          dob.focus();
        } else {
          announceError(explainError(error));
        }
      }
    };
    parts.push(h("p", { class: "badge" }, t("Waiting for you to confirm")),
      form(submit, dob.wrapper, button(t("Confirm"))));
  }
  return h("section", { class: "card", "aria-labelledby": headingId, dataset: { link: link.id } },
           parts);
}

/** Home: a confirmed child's latest report and what changed since the one before. */
function latestReport(link) {
  const progress = link.progress;
  if (!progress || !progress.periods.length) return null;
  const latest = progress.periods[progress.periods.length - 1];
  const changes = changeLines(progress, { glance: true });
  return h("div", { class: "latest" },
    h("p", {}, tParts("Latest report: {report} ({period})", { period: latest.period,
      report: h("a", { href: `/reports/${encodeURIComponent(latest.report_id)}` }, latest.title) })),
    changes.length && progress.periods.length > 1
      ? h("ul", { class: "trend", "aria-label": t("Since the last report, for {name}", { name: childName(link) }) },
        changes.map((line) => h("li", {}, line)))
      : null);
}

async function childrenScreen() {
  const links = await loadLinks();
  await Promise.all(links.filter((l) => l.status === "verified").map(async (l) => {
    l.progress = await loadProgress(l.student.id).catch(() => null);
  }));
  // A child's state changed: only its card is drawn again (the others, and what was typed
  // in them, stay as they are); its form is gone, so the focus goes to its heading.
  const redraw = (changed) => {
    const old = [...list.children].find((el) => el.dataset.link === changed.id);
    if (!old) return;
    const section = childSection(changed, redraw);
    old.replaceWith(section);
    section.querySelector("h2").focus();
  };
  const list = h("div", { class: "cards" }, links.map((link) => childSection(link, redraw)));
  show(t("Your children"),
    links.length
      ? h("p", {}, t("These are the children your school has linked to you. Confirm each one with their date of birth to see their reports."))
      : contactSentence(t("No children are linked to your account yet. Your school adds them; if you expected to see a child here,"), (state.me.school_ids || [])[0]),
    list);
}

// --- screens: reports ----------------------------------------------------------------------

/** A child confirmed a moment ago reaches the reports part of the system within seconds:
 *  until then its reports answer 404, so ask again a few times before saying so. */
async function reportsOf(studentId) {
  const path = `/api/v1/students/${encodeURIComponent(studentId)}/reports`;
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await allPages(path, 5);
    } catch (error) {
      if (error.status !== 404 || attempt >= 6) throw error;
      await sleep(500 * (attempt + 1));
    }
  }
}

async function reportsScreen(url) {
  const students = await readableStudents();
  if (!students.length) {
    show(state.me.role === "student" ? t("Your reports") : t("Reports"),
      state.me.role === "student"
        ? h("p", {}, t("Your school has not connected your account to your record yet."))
        : h("p", {}, tParts("Confirm a child first, then their reports appear here. {link}",
            { link: h("a", { href: "/children" }, t("Go to your children")) })));
    return;
  }
  const wanted = url.searchParams.get("student") || state.childId;
  const current = students.find((s) => s.id === wanted) || students[0];
  state.childId = current.id;
  const chooser = students.length > 1
    ? h("nav", { "aria-label": t("Choose a child"), class: "child-switcher" },
      h("ul", {}, students.map((s) => h("li", {},
        h("a", { href: `/reports?student=${encodeURIComponent(s.id)}`,
                 "aria-current": s.id === current.id ? "page" : false },
          schools().length > 1 ? `${s.name} (${schoolName(s.school_id)})` : s.name)))))
    : null;
  let body;
  try {
    const reports = await reportsOf(current.id);
    body = reports.length
      ? h("ul", { class: "report-list" }, reports.map((r) => h("li", {},
        h("a", { href: `/reports/${encodeURIComponent(r.id)}` }, r.title),
        h("span", { class: "meta" }, " ", [r.period, t("published {date}", { date: formatDate(r.published_at) }),
          r.updated_at ? t("updated on {date}", { date: formatDate(r.updated_at) }) : null].filter(Boolean).join(" · ")))))
      : h("p", {}, t("No reports have been published yet. We email you when one is."));
  } catch (error) {
    if (error.status === 401) throw error;
    body = error.status === 423  // who to ask, and how to reach them
      ? contactSentence(lockedLead(error), current.school_id)
      : h("p", { class: "notice" }, error.status === 404
        ? t("We are still connecting you to these reports. Please try again in a minute.")
        : explainError(error));
  }
  const title = state.me.role === "student" ? t("Your reports") : t("Reports for {name}", { name: current.name });
  show(title, h("p", { class: "meta school-name" }, t("{name} at {school}", { name: current.name, school: schoolName(current.school_id) })),
    chooser, body);
}

async function reportScreen(reportId) {
  let report;
  try {
    report = await api.call("GET", `/api/v1/reports/${encodeURIComponent(reportId)}`);
  } catch (error) {
    if (error.status === 401) throw error;
    if (error.code === "offline") {
      const copy = await offline.savedReport(reportId);
      if (!copy) throw error;
      drawReport(copy.report, copy.progress, copy.school_name, copy.saved_at);
      return;
    }
    await offline.forgetReport(reportId); // not readable any more: nor is its copy
    show(t("Report not available"),
      error.status === 423  // the report's school is not known here: each of the reader's
        ? contactSentence(lockedLead(error), ...schools().map((school) => school.id))
        : h("p", {}, explainError(error)),
      h("p", {}, h("a", { href: "/reports" }, t("All reports"))));
    return;
  }
  const student = report.student || {};
  const [school, progress] = await Promise.all([schoolOfStudent(student.id).catch(() => null),
    loadProgress(student.id).catch(() => null)]);
  await offline.saveReport(reportId, { report, progress, school_name: schoolName(school) });
  drawReport(report, progress, schoolName(school));
}

/** A report as published; `savedAt` when it is the copy kept for reading offline. */
function drawReport(report, progress, school, savedAt = null) {
  const student = report.student || {};
  if (savedAt) state.offline = true; // back online, the screen is drawn anew
  show(report.title,
    savedAt ? offlineBanner(savedAt) : null,
    reportMeta(report, school),
    h("p", {}, h("a", { href: `/reports?student=${encodeURIComponent(student.id || "")}` }, t("All reports"))),
    progressSection(progress),
    reportBody(report));
}

function offlineBanner(savedAt) {
  return h("p", { class: "offline-banner" },
    h("strong", {}, t("You are offline — showing the copy saved on {date}.", { date: formatDateTime(savedAt) })),
    " ", t("It may have changed since: it is updated when you open it with a connection."));
}

/** Without a connection, a screen that is not kept: the reports that are. */
async function offlineScreen() {
  const saved = await offline.savedReports();
  state.offline = true;
  show(t("You are offline"),
    h("p", { class: "offline-banner" }, h("strong", {}, t("You are offline.")),
      " ", t("We could not reach Pupil Progress: check your connection. This screen will update when it is back.")),
    saved.length
      ? [h("h2", {}, t("Reports you can read offline")),
        h("p", {}, t("Copies saved on this device when you last opened them.")),
        h("ul", { class: "report-list" }, saved.map((entry) => h("li", {},
          h("a", { href: `/reports/${encodeURIComponent(entry.id)}` }, entry.title),
          h("span", { class: "meta" }, " ", [entry.student, entry.period, t("saved on {date}", { date: formatDateTime(entry.saved_at) })].join(" · ")))))]
      : h("p", {}, t("No reports are saved on this device yet: a report you open with a connection can be read here offline afterwards.")));
}

// --- screens: requests ---------------------------------------------------------------------

const CHILD_KIND_TEXT = {
  access: (name) => t("A copy of {name}'s data", { name }),
  portability: (name) => t("A portable copy of {name}'s data", { name }),
  erasure: (name) => t("Erasure of {name}'s data", { name }),
};

/** A parent's request about a child names the child; one about themselves says "your". */
function requestTitle(request, names) {
  const subject = request.subject || {};
  if (state.me.role === "parent" && subject.type === "student") {
    const name = names[subject.id] || t("your child");
    return (CHILD_KIND_TEXT[request.kind] || (() => KIND_TEXT[request.kind]))(name);
  }
  return KIND_TEXT[request.kind] || request.kind;
}

async function childNames() {
  if (state.me.role !== "parent") return {};
  const links = state.links || await loadLinks();
  return Object.fromEntries(links.map((l) => [l.student.id, childName(l)]));
}

function requestItem(request, names) {
  return h("li", { class: "request" },
    h("a", { href: `/requests/${encodeURIComponent(request.id)}` }, requestTitle(request, names)),
    h("span", { class: "meta" }, request.received_at ? [" ", t("asked on {date}", { date: formatDate(request.received_at) })] : "",
      schools().length > 1 && request.school_id ? ` · ${schoolName(request.school_id)}` : ""),
    h("span", { class: `badge badge--${request.status}` }, STATUS_TEXT[request.status] || request.status));
}

async function requestsScreen() {
  const [requests, subjects, names] = await Promise.all([
    api.call("GET", "/api/v1/subject-requests").then((a) => a.items),
    settled(() => api.call("GET", "/api/v1/subject-requests/subjects").then((a) => a.items),
            (items) => !items.some((s) => s.yourself)),
    childNames(),
  ]);
  // A parent at two schools has a record at each: the request goes to the school chosen.
  const selves = subjects.filter((s) => s.yourself);
  const which = selves.length > 1 ? selectField({
    label: t("Which school should answer"), name: "school",
    options: selves.map((s) => [s.school_id || "", schoolName(s.school_id)]),
    hint: t("Each school decides about the data it shared.") }) : null;
  const self = () => (which ? selves.find((s) => (s.school_id || "") === which.input.value) : selves[0]);
  const children = inChildOrder(subjects.filter((s) => !s.yourself && s.type === "student"),
                                (s) => ({ name: names[s.id] || "", id: s.id }));
  const list = h("ul", { class: "request-list" }, requests.map((r) => requestItem(r, names)));
  const empty = h("p", { hidden: requests.length > 0 }, t("You have not made any requests yet."));
  const noteId = uniqueId("note");
  const note = h("textarea", { id: noteId, name: "note", maxlength: "500", rows: "3" });

  const file = async (kind, subject) => {
    if (!subject) {
      announceError(t("Your account is still being set up. Please try again in a minute."));
      return;
    }
    const body = { kind, subject: { type: subject.type, id: subject.id } };
    if (subject.school_id) body.school_id = subject.school_id;
    if (note.value.trim()) body.details = { note: note.value.trim() };
    try {
      const request = await api.call("POST", "/api/v1/subject-requests", body);
      const filed = { ...request, kind, subject: body.subject,
                      received_at: request.received_at || new Date().toISOString() };
      requests.unshift(filed);
      list.prepend(requestItem(filed, names));
      empty.hidden = true;
      note.value = "";
      announce(t("Your request has been sent to the school. {status}.", { status: STATUS_TEXT[request.status] || request.status }));
    } catch (error) {
      announceError(explainError(error));
    }
  };

  // Erasure asks first: one box, for whichever erasure button was pressed.
  let pending = null;
  const confirmText = h("p", {});
  const confirmBox = h("div", { class: "confirm", hidden: true, role: "group",
                                "aria-labelledby": "erase-confirm-heading" },
    h("h3", { id: "erase-confirm-heading", tabindex: "-1" }, t("Are you sure?")),
    confirmText,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "button button--danger", onclick: async () => {
        confirmBox.hidden = true;
        await file("erasure", pending.subject);
        pending.button.focus();
      } }, t("Yes, ask the school to erase it")),
      h("button", { type: "button", class: "button button--secondary", onclick: () => {
        confirmBox.hidden = true;
        pending.button.focus();
      } }, t("Cancel"))));
  const eraseButton = (label, subject, consequence) => {
    const element = h("button", { type: "button", class: "button button--secondary", onclick: () => {
      pending = { subject: typeof subject === "function" ? subject() : subject, button: element };
      confirmText.textContent = consequence;
      element.closest("section").append(confirmBox);
      confirmBox.hidden = false;
      confirmBox.querySelector("h3").focus();
    } }, label);
    return element;
  };

  const childSections = children.map((child) => {
    const name = names[child.id] || t("Your child");
    const headingId = uniqueId("about-child");
    return h("section", { class: "card", "aria-labelledby": headingId },
      h("h2", { id: headingId }, t("About {name}", { name })),
      h("p", { class: "meta school-name" }, t("At {school}", { school: schoolName(child.school_id) })),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button", onclick: () => file("access", child) },
          t("Ask for {name}'s data", { name })),
        eraseButton(t("Ask for {name}'s data to be erased", { name }), child,
          t("If the school agrees, {name}'s data is deleted everywhere in Pupil Progress, reports included. This cannot be undone.", { name }))));
  });

  show(t("Your requests"),
    h("section", { class: "card", "aria-labelledby": "ask-heading" },
      h("h2", { id: "ask-heading" }, t("Ask the school about your data")),
      h("p", {}, t("Your school decides on every request, usually within one month. You can ask for a copy of the data held about you, for a copy in a format you can take elsewhere, or for your data to be erased.")),
      which ? which.wrapper : null,
      h("div", { class: "field" }, h("label", { for: noteId }, t("Anything the school should know (optional)")), note),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "button", onclick: () => file("access", self()) }, t("Ask for my data")),
        h("button", { type: "button", class: "button button--secondary", onclick: () => file("portability", self()) }, t("Ask for a portable copy")),
        eraseButton(t("Ask for my data to be erased"), self,
          t("If the school agrees, your data is deleted everywhere in Pupil Progress and you can no longer sign in. This cannot be undone."))),
      contactSentence(t("To correct something,"), ...schools().map((school) => school.id)),
      h("p", {}, t("The school corrects its own records, and the change reaches us."))),
    childSections,
    h("h2", {}, t("Requests you have made")), empty, list);
}

async function requestScreen(requestId) {
  let request;
  try {
    request = await api.call("GET", `/api/v1/subject-requests/${encodeURIComponent(requestId)}`);
  } catch (error) {
    if (error.status === 401) throw error;
    show(t("Request not available"), h("p", {}, explainError(error)),
      h("p", {}, h("a", { href: "/requests" }, t("All requests"))));
    return;
  }
  const services = Object.entries(request.services || {});
  const rows = [
    [t("Status"), STATUS_TEXT[request.status] || request.status],
    request.received_at ? [t("Asked on"), formatDate(request.received_at)] : null,
    [t("Due by"), request.days_left !== undefined && !["completed", "refused"].includes(request.status)
      ? t("{date} ({count} days left)", { date: formatDate(request.due_at), count: Math.max(0, request.days_left) })
      : formatDate(request.due_at)],
    request.refusal_reason ? [t("The school's reason"), request.refusal_reason] : null,
  ].filter(Boolean);
  const school = schoolName(request.school_id);
  const copy = request.kind === "access" || request.kind === "portability";
  const explain = {
    awaiting_school: t("{school} has your request and decides on it. We will show its progress here.", { school }),
    in_progress: t("The school approved your request. Each part of the system is answering it."),
    completed: copy && request.export_released
      ? t("Done. {school} has made the copy of your data available here.", { school })
      : copy ? t("Done. {school} will give you the copy of your data, or make it available here.", { school }) : t("Done."),
  }[request.status];
  // The school released the copy to the person who asked (issue 24): download it here
  // until it expires. The zip holds your-data.html, a summary to read and print.
  const download = request.export_released
    ? [h("p", {}, t("You can download it until {date}. The download is a zip file: open your-data.html in it to read or print your data; the other files hold the same data for a computer.", { date: formatDateTime(request.export_expires_at) })),
      h("div", { class: "actions" }, h("button", { type: "button", class: "button", onclick: async () => {
        try {
          await saveDownload(await api.callRaw("GET", `/api/v1/subject-requests/${encodeURIComponent(request.id)}/export`),
            "your-data.zip");
          announce(t("Your copy is downloaded."));
        } catch (error) {
          announceError(explainError(error));
        }
      } }, t("Download your copy")))]
    : null;
  show(requestTitle(request, await childNames()),
    summary(rows),
    explain ? h("p", {}, explain) : null,
    download,
    request.status === "awaiting_school" || request.status === "paused"
      ? contactSentence(t("To ask about it,"), request.school_id) : null,
    services.length && request.status !== "awaiting_school"
      ? [h("h2", {}, t("Progress in each part of the system")),
        h("ul", { class: "progress-list" }, services.map(([name, progress]) =>
          h("li", {}, `${SERVICE_TEXT[name] || name}: ${PROGRESS_TEXT[progress] || progress}`)))]
      : null,
    h("p", {}, h("a", { href: "/requests" }, t("All requests"))));
}

// --- screens: notifications ----------------------------------------------------------------

async function notificationsScreen() {
  const preferences = await api.call("GET", "/api/v1/notification-preferences");
  const id = uniqueId("report-emails");
  const box = h("input", { type: "checkbox", id, name: "report_emails",
                           checked: preferences.report_emails });
  const submit = async () => {
    try {
      const saved = await api.call("PUT", "/api/v1/notification-preferences",
                                   { report_emails: box.checked });
      box.checked = saved.report_emails;
      announce(saved.report_emails ? t("Saved: we will email you when a new report is published.")
        : t("Saved: we will not email you about new reports."));
    } catch (error) {
      announceError(explainError(error));
    }
  };
  show(t("Email notifications"),
    form(submit,
      h("div", { class: "checkbox" }, box, h("label", { for: id }, t("Email me when a new report is published"))),
      h("p", { class: "hint" }, t("Emails about your account, such as password resets, are always sent. Report emails never contain grades.")),
      button(t("Save"))));
}

// --- screens: privacy ----------------------------------------------------------------------

/** The privacy notice's version to show: the one asked for (the announcement mail links to
 *  its version), else the newest in effect today, else the newest announced. */
function noticeToShow(notices, asked) {
  if (asked) return notices.find((n) => n.version === asked) || null;
  const today = new Date().toISOString().slice(0, 10);
  return notices.find((n) => n.effective_date <= today) || notices[0] || null;
}

async function privacyScreen(url) {
  const [map, notices] = await Promise.all([
    api.publicCall("GET", "/api/v1/data-map"),
    api.publicCall("GET", "/api/v1/privacy-notices").then((a) => a.items).catch(() => []),
  ]);
  const asked = url.searchParams.get("version");
  const chosen = noticeToShow(notices, asked);
  const notice = chosen && chosen.has_text
    ? await api.publicCall("GET", `/api/v1/privacy-notices/${encodeURIComponent(chosen.version)}`)
      .catch(() => null)
    : null;
  const services = map.services.filter((s) => s.held.length);
  const noticeHeadingId = uniqueId("notice");
  const noticeSection = notice && notice.text
    ? h("section", { class: "card notice", "aria-labelledby": noticeHeadingId },
      h("h2", { id: noticeHeadingId }, t("Privacy notice, version {version}", { version: notice.version })),
      h("p", { class: "meta" }, t("In effect from {date}", { date: formatDate(notice.effective_date) })),
      notice.text.split(/\n\s*\n/).map((paragraph) => h("p", {}, paragraph.trim())))
    : asked
      ? h("p", {}, chosen
        ? t("The text of version {version} is not online. Ask your school for a copy.", { version: asked })
        : t("There is no version {version} of the privacy notice. The versions are listed below.", { version: asked }))
      : null;
  show(t("How we keep your data safe"),
    h("p", {}, t("Your school is in charge of your data (the data controller). Pupil Progress processes it for the school, only to show the right reports to the right people, and forgets people completely when the school tells it to.")),
    noticeSection,
    h("p", {}, t("The system is made of separate parts. Each keeps only what it needs, in its own database, and they pass each other identifiers rather than names wherever they can. A child's date of birth is kept in one part only, to check that a parent knows it.")),
    h("h2", {}, t("What each part holds, and why")),
    h("p", { class: "hint" }, t("This list is produced by the system from its own data map, so it always matches what is stored.")),
    services.map((service) => {
      const headingId = uniqueId("service");
      return h("section", { class: "card", "aria-labelledby": headingId },
        h("h3", { id: headingId }, service.title),
        h("p", {}, service.role),
        table(t("Personal data held by {service}", { service: service.title }), [t("What"), t("Whose"), t("Why")],
          service.held.map((item) => h("tr", {},
            h("td", {}, `${item.fields.join(", ")} (${item.what})`),
            h("td", {}, item.whose_text), h("td", {}, item.purpose || "—")))));
    }),
    h("h2", {}, t("Privacy notice versions")),
    notices.length
      ? h("ul", {}, notices.map((n) => {
        const shown = n.version === (notice ? notice.version : asked);
        const label = t("Version {version}, in effect from {date}", { version: n.version, date: formatDate(n.effective_date) });
        return h("li", { "aria-current": shown ? "true" : false, class: shown ? "current" : false },
          n.has_text && !shown
            ? h("a", { href: `/privacy?version=${encodeURIComponent(n.version)}` }, label)
            : label);
      }))
      : h("p", {}, t("No new version of the privacy notice has been announced.")),
    h("h2", {}, t("How to ask about your data")),
    h("p", {}, t("You can ask for a copy of your data, for a copy you can take elsewhere, for it to be corrected, for its use to be restricted, or for it to be erased. The school decides, usually within one month.")),
    h("p", {}, state.me
      ? h("a", { href: "/requests" }, t("Make a request"))
      : t("Sign in, open Requests, and choose what you want. Or contact your school directly.")));
}

// --- routing -------------------------------------------------------------------------------

const PUBLIC = {
  "/sign-in": () => signInScreen(),
  "/activate": activateScreen,
  "/reset-password": resetPasswordScreen,
  "/forgot-password": forgotPasswordScreen,
  "/privacy": privacyScreen,
};

// School staff and operators get their console: a module each, loaded only for them, which
// draws its own navigation and screens from the same helpers (ui.js).
const CONSOLES = { school_admin: "./admin.js", operator: "./operator.js" };

/** Who is signed in is asked again on the next screen (a sign-in, a sign-out, a 401). */
function forgetReader() {
  state.me = null;
  state.offline = false;
  state.staff = null;
  session.me = null;
}

async function staffConsole(role) {
  if (!CONSOLES[role]) return null;
  await import("./second-factor.js"); // asks for the code again before the gravest actions
  if (!state.staff) state.staff = await import(CONSOLES[role]);
  return state.staff;
}

async function signedInRoute(path, url) {
  const role = state.me.role;
  if (path === "/account") return accountScreen(signOutScreen);
  if (state.staff) {
    if (["/", "/sign-in", "/second-factor"].includes(path)) {
      await navigate(state.staff.navItems()[0][1], { replace: true });
      return undefined;
    }
    if (await state.staff.route(path, url)) return undefined;
    notFound();
    return undefined;
  }
  if (role !== "parent" && role !== "student") {
    show(t("This app is for parents and students"),
      h("p", {}, t("School staff and operators use the school console: ask the school's administrator for an administrator account.")),
      h("p", {}, h("a", { href: "/sign-out" }, t("Sign out"))));
    return undefined;
  }
  if (["/", "/sign-in", "/second-factor"].includes(path)) {
    await navigate(role === "parent" ? "/children" : "/reports", { replace: true });
    return;
  }
  if (path === "/children" && role === "parent") return childrenScreen();
  if (path === "/reports") return reportsScreen(url);
  let match = path.match(/^\/reports\/([0-9a-fA-F-]{36})$/);
  if (match) return reportScreen(match[1]);
  if (path === "/requests") return requestsScreen();
  match = path.match(/^\/requests\/([0-9a-fA-F-]{36})$/);
  if (match) return requestScreen(match[1]);
  if (path === "/notifications") return notificationsScreen();
  notFound();
  return undefined;
}

/** Acts in another of the login's roles: a token for it, then that role's first screen. */
async function switchRole(role) {
  await api.switchRole(role);
  forgetReader();
  state.links = null;
  state.childId = null;
  await navigate("/", { replace: true });
  announce(t("You are using Pupil Progress as {role}.", { role: ROLE_TEXT[role] || role }));
}

/** What the sign-in screen says when a sign-in has just ended: why, when identity said
 *  (a sign-in lasts PP_SIGN_IN_MAX_DAYS however often it is refreshed), else `message`. */
function whyEnded(message) {
  return api.takeEndReason() === "sign_in_expired"
    ? t("You have been signed in for as long as a sign-in lasts, so you are signed out to keep your information safe. Please sign in again.")
    : message;
}

async function render() {
  const url = new URL(location.href);
  const path = currentPath();
  loading();
  try {
    if (path === "/sign-out") {
      await signOutScreen();
      return;
    }
    const switching = path.match(/^\/switch\/([a-z_]+)$/);
    if (switching && api.hasSession()) {
      await switchRole(switching[1]);
      return;
    }
    if (path === "/second-factor" && needsSecondFactor()) {
      await secondFactorRoute();
      return;
    }
    if (!state.me && api.hasSession()) {
      try {
        state.me = await api.call("GET", "/api/v1/me");
        session.me = state.me;
        await followRecordedLanguage(state.me);
        state.offline = false;
        await offline.keepFor(state.me);
        await staffConsole(state.me.role);
      } catch (error) {
        if (error.code === "offline") {
          // Offline in a tab signed in: the reader as last seen here, for the kept copies.
          state.me = await offline.savedReader();
          if (!state.me) throw error;
          session.me = state.me;
          state.offline = true;
        } else if (error.status !== 401) {
          throw error;
        } else if (error.code === "second_factor_required" && needsSecondFactor()) {
          // A reload between the password and the code: the code is still to give.
          state.afterSignIn = ["/", "/second-factor"].includes(path) ? null : path + url.search;
          history.replaceState(null, "", "/second-factor");
          await secondFactorRoute();
          return;
        } else {
          api.forgetTokens();
          await offline.forgetAll(); // the sign-in has ended: so have its copies
        }
      }
    }
    if (PUBLIC[path] && !(state.me && path === "/sign-in")) {
      await PUBLIC[path](url);
      return;
    }
    if (!state.me) {
      state.afterSignIn = path === "/" ? null : path + url.search;
      history.replaceState(null, "", "/sign-in");
      signInScreen(whyEnded(path === "/" ? null : t("Please sign in to continue.")));
      return;
    }
    await signedInRoute(path, url);
  } catch (error) {
    if (error.status === 401) {
      api.forgetTokens();
      forgetReader();
      await offline.forgetAll(); // the sign-in has ended: so have its copies
      state.afterSignIn = path + url.search;
      history.replaceState(null, "", "/sign-in");
      signInScreen(whyEnded(t("Your session has ended. Please sign in again.")));
      return;
    }
    if (error.code === "offline" && state.me && ["parent", "student"].includes(state.me.role)) {
      await offlineScreen();
      return;
    }
    show(t("Something went wrong"), h("p", {}, explainError(error)),
      h("p", {}, h("a", { href: location.pathname + location.search }, t("Try again"))));
    announceError(explainError(error));
  } finally {
    loaded(); // a screen that drew nothing new (a redirect did) is not left busy
  }
}

// Back online after screens drawn from the kept copies: the reader and the screen anew.
window.addEventListener("online", () => {
  if (!state.offline) return;
  forgetReader();
  render();
});

// --- language (issue 29) -------------------------------------------------------------------

/** The words of the page itself (index.html): marked with the English text as their key. */
function drawPageWords() {
  document.querySelectorAll("[data-i18n]").forEach((element) => {
    element.textContent = t(element.dataset.i18n);
  });
  document.querySelectorAll("[data-i18n-label]").forEach((element) => {
    element.setAttribute("aria-label", t(element.dataset.i18nLabel));
  });
  document.querySelectorAll("[data-language]").forEach((option) => {
    option.setAttribute("aria-pressed", String(option.dataset.language === currentLanguage()));
  });
}

/** Signed in, the app speaks the language recorded for the person (GET /api/v1/me); none
 *  recorded yet, the one chosen on this device is recorded. */
async function followRecordedLanguage(me) {
  if (me.language && me.language !== currentLanguage()) {
    await useLanguage(me.language);
    drawPageWords();
  } else if (!me.language) {
    recordLanguage(currentLanguage());
  }
}

/** PATCH /api/v1/me: an identity service without the field yet (404, 400) is no error. */
function recordLanguage(code) {
  if (!state.me || state.offline) return;
  state.me.language = code;
  api.call("PATCH", "/api/v1/me", { language: code }).catch(() => {});
}

/** What the person typed on the screen, to put back once it is drawn in the other language. */
function typedValues() {
  return [...document.querySelectorAll("#main input, #main textarea, #main select")]
    .map((input) => ({ name: input.name, type: input.type, value: input.value,
                       checked: input.checked }));
}

function restoreTyped(values) {
  const inputs = [...document.querySelectorAll("#main input, #main textarea, #main select")];
  values.forEach((kept, index) => {
    const input = inputs[index];
    if (!input || input.type !== kept.type || (kept.name && !input.name.startsWith(kept.name.replace(/-\d+$/, "")))) return;
    if (input.type === "checkbox") input.checked = kept.checked;
    else if (input.type !== "radio") input.value = kept.value;
  });
}

/** Cymraeg / English: the same screen (route and what was typed), in the other language. */
async function switchLanguage(code, { fromScreen = false } = {}) {
  if (code === currentLanguage()) return;
  const typed = typedValues();
  await useLanguage(code);
  clearMessages(); // a message said in the other language is not left on the screen
  if (state.links) state.links = inChildOrder(state.links, linkChild); // the language's order
  drawPageWords();
  recordLanguage(code);
  await render();
  restoreTyped(typed);
  // The focus stays on what was used: the switcher, or the screen's own choice (activation).
  const choice = document.querySelector(`#main input[type="radio"][value="${code}"]`);
  const option = fromScreen && choice ? choice : document.querySelector(`[data-language="${code}"]`);
  if (option) option.focus();
}

document.querySelectorAll("[data-language]").forEach((option) => {
  option.addEventListener("click", () => switchLanguage(option.dataset.language));
});

setRenderer(render, drawSurroundings);
offline.registerServiceWorker();
await useLanguage(preferredLanguage()).catch(() => useLanguage("en")).catch(() => null);
drawPageWords();
render();

// Recovering two-step sign-in (issue 25), for the school admin's console and the
// operator's: the school's administrators (or the operators) and whether each has set up
// an authenticator app or passkeys; resetting another one's (a lost phone and lost
// recovery codes: they set it up again at their next sign-in; never one's own), with the
// code again when the last one is over 15 minutes old; the record of resets. And the person's own:
// new recovery codes, or a new authenticator app. Only the public API; the accessible
// names the browser tests rely on are listed in web/README.md ("Two-step sign-in").

import * as api from "./api.js";
import { formatDate, h, uniqueId } from "./dom.js";
import { N_, t, texts } from "./i18n.js";
import { announce, announceError, button, explainError, field, form, formatDateTime,
         table } from "./ui.js";

const FACTOR_TEXT = texts({ enrolled: N_("Set up"), pending: N_("Being set up"), none: N_("Not set up") });
const ROLE_TEXT = texts({ school_admin: N_("an administrator of the school"),
                          operator: N_("a Pupil Progress operator") });

function region(title, ...content) {
  const id = uniqueId("section");
  return h("section", { class: "card", "aria-labelledby": id },
    h("h2", { id, tabindex: "-1" }, title), ...content);
}

const schoolPath = (schoolId, tail) => `/api/v1/schools/${encodeURIComponent(schoolId)}/${tail}`;

// What differs between the school's administrators and the operators: where their list and
// their record of resets are, where a reset is recorded, and the words around them.
const SCHOOL_TEXT = {
  title: N_("Two-step sign-in of the school's administrators"),
  intro: N_("An administrator who lost both their phone and their recovery codes cannot sign in. Another administrator of the school, or Pupil Progress, can reset their two-step sign-in; no one can reset their own."),
  table: N_("Administrators' two-step sign-in"),
  noTrail: N_("No one's two-step sign-in has been reset at this school."),
  former: N_("A former administrator"),
};
const OPERATOR_TEXT = {
  title: N_("Two-step sign-in of the operators"),
  intro: N_("An operator who lost both their phone and their recovery codes cannot sign in. Another operator can reset their two-step sign-in; no one can reset their own."),
  table: N_("Operators' two-step sign-in"),
  noTrail: N_("No operator's two-step sign-in has been reset."),
  former: N_("A former operator"),
};

/** The school's administrators' two-step sign-in, with a reset for each other one, and
 *  the record of resets. `selfId`: the signed-in person (never offered a reset). */
export function schoolTwoStepSection(schoolId, selfId) {
  return twoStepSection({ list: schoolPath(schoolId, "second-factors"),
                          trail: schoolPath(schoolId, "second-factor-resets"),
                          resetQuery: `?school_id=${encodeURIComponent(schoolId)}`,
                          text: SCHOOL_TEXT }, selfId);
}

/** The operators' two-step sign-in (the operator console): as the school's. */
export function operatorTwoStepSection(selfId) {
  return twoStepSection({ list: "/api/v1/accounts/second-factors",
                          trail: "/api/v1/accounts/second-factor-resets",
                          resetQuery: "", text: OPERATOR_TEXT }, selfId);
}

/** Each login's name as shown: its name, with its email when another shares the name. */
function labels(items) {
  const seen = {};
  items.forEach((item) => { seen[item.name] = (seen[item.name] || 0) + 1; });
  return Object.fromEntries(items.map((item) => [item.account_id,
    seen[item.name] > 1 ? `${item.name} (${item.email})` : item.name]));
}

/** What a login has: its app (set up, being set up) and its passkeys that count for
 *  staff (identity counts those alone); for staff such a passkey is both factors, so a
 *  login with one has something to reset. */
function factorText(item) {
  const app = item.second_factor === "enrolled" && item.enrolled_at
    ? t("Set up on {date}", { date: formatDate(item.enrolled_at) })
    : (item.second_factor === "none" && item.passkeys ? null : FACTOR_TEXT[item.second_factor]);
  const keys = item.passkeys ? t("{count} passkey", { count: item.passkeys }) : null;
  return [app, keys].filter(Boolean).join(", ");
}

async function twoStepSection(where, selfId) {
  const { text } = where;
  const rows = h("tbody", {});
  const trail = h("tbody", {});
  const trailBox = table(t("Two-step sign-in resets"), [t("When"), t("Whose"), t("Reset by")], trail);
  const noTrail = h("p", {}, t(text.noTrail));
  const confirmBox = h("div", { class: "notice", hidden: true, role: "group",
                                "aria-label": t("Confirm the reset") });
  let names = {};

  async function load() {
    const [people, resets] = await Promise.all([api.call("GET", where.list),
                                                api.call("GET", where.trail)]);
    names = labels(people.items);
    rows.replaceChildren(...people.items.map((person) => row(person)));
    trail.replaceChildren(...resets.items.map((entry) => h("tr", {},
      h("td", {}, formatDateTime(entry.at)),
      h("th", { scope: "row" }, names[entry.account_id] || t(text.former)),
      h("td", {}, entry.actor_role === "operator" && !names[entry.actor_id]
        ? t("A Pupil Progress operator") : (names[entry.actor_id] || t(text.former))))));
    trailBox.hidden = resets.items.length === 0;
    noTrail.hidden = resets.items.length > 0;
  }

  function row(person) {
    const name = names[person.account_id];
    const mine = person.account_id === selfId;
    const action = mine ? t("You (change yours below)")
      : person.second_factor === "none" && !person.passkeys ? t("Nothing to reset")
        : h("button", { type: "button", class: "button button--secondary",
                        onclick: () => confirmReset(person.account_id, name) },
          t("Reset two-step sign-in for {name}", { name }));
    return h("tr", { dataset: { account: person.account_id } },
      h("th", { scope: "row" }, person.name, h("span", { class: "hint table-note" }, person.email)),
      h("td", {}, factorText(person)),
      h("td", {}, action));
  }

  function confirmReset(accountId, name) {
    const question = h("p", { tabindex: "-1" },
      t("Reset {name}'s two-step sign-in? Their authenticator app, recovery codes and passkeys stop working, they are signed out, and they set up an app again at their next sign-in. They are emailed, and the reset is recorded below with your name. Do this only when you are sure it is them asking (for example, in person or by phone).", { name }));
    const reset = h("button", { type: "button", class: "button", onclick: async () => {
      reset.disabled = true;
      try {
        await api.call("DELETE", `/api/v1/accounts/${encodeURIComponent(accountId)}`
                                 + `/second-factor${where.resetQuery}`);
        confirmBox.hidden = true;
        await load();
        announce(t("{name}'s two-step sign-in was reset: they set it up again at their next sign-in.", { name }));
      } catch (error) {
        reset.disabled = false;
        announceError(error.code === "step_up_required"
          ? t("The reset needs your authenticator code again: nothing was changed.")
          : explainError(error));
      }
    } }, t("Yes, reset {name}'s two-step sign-in", { name }));
    const keep = h("button", { type: "button", class: "button button--secondary",
                               onclick: () => { confirmBox.hidden = true; } }, t("Cancel"));
    confirmBox.replaceChildren(question, h("div", { class: "actions" }, reset, keep));
    confirmBox.hidden = false;
    question.focus();
  }

  await load();
  return region(t(text.title),
    h("p", { class: "hint" }, t(text.intro)),
    table(t(text.table), [t("Name and email"), t("Two-step sign-in"), t("Reset")], rows),
    confirmBox,
    h("h3", {}, t("Resets")), noTrail, trailBox);
}

/** The signed-in person's own two-step sign-in: new recovery codes, or a new app. */
export function ownTwoStepSection() {
  const out = h("div", { class: "own-two-step" });
  const newCodes = h("button", { type: "button", class: "button button--secondary",
                                 onclick: async () => {
    try {
      const answer = await api.call("POST", "/api/v1/auth/second-factor/recovery-codes");
      out.replaceChildren(codesList(answer.recovery_codes));
      announce(t("New recovery codes are shown: the earlier ones no longer work."));
    } catch (error) {
      announceError(explainError(error));
    }
  } }, t("Make new recovery codes"));
  const newApp = h("button", { type: "button", class: "button button--secondary",
                               onclick: async () => {
    try {
      out.replaceChildren(replaceApp(await api.call(
        "POST", "/api/v1/auth/second-factor/totp/replacement")));
    } catch (error) {
      announceError(explainError(error));
    }
  } }, t("Set up a new authenticator app"));
  return region(t("Your two-step sign-in"),
    h("p", {}, t("A new phone, or recovery codes used up or lost? Make new ones here: the earlier ones stop working. You are asked for your code again first if you last gave it over 15 minutes ago, and you are emailed.")),
    h("div", { class: "actions" }, newApp, newCodes), out);
}

function codesList(codes) {
  return h("div", {},
    h("p", {}, t("Keep these recovery codes somewhere safe, apart from your phone: they are shown only now, and each signs you in once.")),
    h("ul", { class: "recovery-codes", "aria-label": t("Recovery codes") },
      codes.map((c) => h("li", {}, h("code", {}, c)))));
}

function replaceApp(enrolment) {
  const code = field({ label: t("Code from the new app"), name: "new-app-code",
                       autocomplete: "one-time-code",
                       hint: t("The 6-digit code the new app shows now."),
                       attrs: { inputmode: "numeric", spellcheck: "false" } });
  const box = h("div", {});
  const submit = async () => {
    code.setError(null);
    const value = code.input.value.replace(/\s+/g, "");
    if (!/^\d{6}$/.test(value)) { code.setError(t("Enter the 6 digits the new app shows.")); code.input.focus(); return; }
    try {
      const answer = await api.call("POST", "/api/v1/auth/second-factor/totp/replacement/confirm",
                                    { code: value });
      box.replaceChildren(h("p", {}, t("Your new authenticator app is set up; the old one no longer works.")),
                          codesList(answer.recovery_codes));
      announce(t("Your new authenticator app is set up."));
    } catch (error) {
      code.setError(error.code === "invalid_second_factor"
        ? t("That code is wrong. Wait for the next code and try again.") : explainError(error));
      code.input.focus();
    }
  };
  const qr = h("img", { class: "qr-code", width: 180, height: 180,
                        alt: t("QR code of your new sign-in key, for your authenticator app"),
                        src: `data:image/svg+xml;base64,${btoa(enrolment.qr_svg)}` });
  box.append(
    h("p", {}, t("Scan this QR code with the new app, or type in the key. Your old app keeps working until you confirm.")),
    h("figure", { class: "qr" }, qr,
      h("figcaption", {}, t("Key: "), h("code", { class: "totp-key" },
        enrolment.key.match(/.{1,4}/g).join(" ")))),
    form(submit, code.wrapper, button(t("Confirm the new app"))));
  return box;
}

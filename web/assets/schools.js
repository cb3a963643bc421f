// Who and where (issue 24): every screen about a child names the child's school, and
// wherever the app says "contact the school" it gives the school office's email and phone
// (the school's settings, from GET /api/v1/me "schools").

import { h } from "./dom.js";
import { t, tParts } from "./i18n.js";
import { session } from "./ui.js";

/** The reader's schools: [{id, name, office_email, office_phone}], by name. */
export function schools() {
  return (session.me && session.me.schools) || [];
}

export function schoolOf(id) {
  return schools().find((s) => s.id === id) || null;
}

export function schoolName(id) {
  const school = schoolOf(id);
  return school ? school.name : t("your school");
}

/** "Demo Academy (office@…, 01632 …)": the office's email and phone as links. */
export function contactOf(school) {
  if (!school) return [t("the school")];
  const ways = [];
  if (school.office_email) ways.push(h("a", { href: `mailto:${school.office_email}` }, school.office_email));
  if (school.office_phone) ways.push(h("a", { href: `tel:${school.office_phone.replace(/[^0-9+]/g, "")}` }, school.office_phone));
  if (!ways.length) return [school.name];
  const joined = ways.flatMap((w, i) => (i ? [" ", t("or"), " ", w] : [w]));
  return [school.name, " (", ...joined, ")"];
}

/** A sentence ending "… please contact Demo Academy (office@…, 01632 …)."; several
 *  schools (ids) are joined with "or". */
export function contactSentence(lead, ...schoolIds) {
  const whom = schoolIds.map((id) => contactOf(schoolOf(id))).flatMap((c, i) => (i ? [" ", t("or"), " ", c] : [c]));
  return h("p", { class: "contact" }, tParts("{lead} please contact {whom}.", { lead, whom }));
}

/** The footer: each of the reader's schools and how to reach its office. */
export function drawFooter() {
  const footer = document.querySelector(".site-footer");
  if (!footer) return;
  const parts = [h("p", {}, t("Your school decides what is shared here; Pupil Progress processes it for them."))];
  const role = session.me && session.me.role;
  if (role === "parent" || role === "student") {
    for (const school of schools()) {
      parts.push(h("p", { class: "footer-contact" }, tParts("Questions? Contact {school}.", { school: contactOf(school) })));
    }
  }
  footer.replaceChildren(...parts);
}

// Names for the school admin's console (issue 24, "staff see people, not ids"). dsar, the
// audit trail and the links keep ids only; the names come from the services that hold them,
// each answering only for the admin's own school: identity (the names the school recorded
// for its logins and contacts, GET /api/v1/schools/<id>/people) and linking (students'
// names, and each link's contact login and relationship). A name not found leaves the
// console saying what kind of person it is, never failing the screen.

import * as api from "./api.js";
import { t } from "./i18n.js";

const MAX_IDS = 100; // per lookup, as the services bound it

function unique(ids) {
  return [...new Set(ids.filter(Boolean))].slice(0, MAX_IDS);
}

async function quietly(work, fallback) {
  try {
    return await work();
  } catch (error) {
    if (error.status === 401) throw error;
    return fallback; // ids alone still say whom
  }
}

/** The school's people by account, guardian and student id: { accounts, guardians, students },
    each a Map from id to { name, role }. */
export async function schoolPeople(schoolId, { accounts = [], guardians = [], students = [] } = {}) {
  const found = { accounts: new Map(), guardians: new Map(), students: new Map() };
  const query = new URLSearchParams();
  unique(accounts).forEach((id) => query.append("account_id", id));
  unique(guardians).forEach((id) => query.append("guardian_id", id));
  unique(students).forEach((id) => query.append("student_id", id));
  if (!schoolId || !query.toString()) return found;
  const items = await quietly(async () => (await api.call("GET",
    `/api/v1/schools/${encodeURIComponent(schoolId)}/people?${query}`)).items, []);
  for (const person of items) {
    const entry = { name: person.name, role: person.role };
    if (person.role !== "parent" || !found.accounts.has(person.account_id)) {
      found.accounts.set(person.account_id, entry);
    }
    if (person.guardian_id) found.guardians.set(person.guardian_id, entry);
    if (person.student_id) found.students.set(person.student_id, entry);
  }
  return found;
}

/** Students' names by id (linking has every student's), a Map from id to name. */
export async function studentNames(ids) {
  const wanted = unique(ids);
  if (!wanted.length) return new Map();
  const query = new URLSearchParams({ limit: String(MAX_IDS) });
  wanted.forEach((id) => query.append("id", id));
  const items = await quietly(async () => (await api.call("GET",
    `/api/v1/links/students?${query}`)).items, []);
  return new Map(items.filter((s) => s.name).map((s) => [s.id, s.name]));
}

/** A student's links as the school admin sees them (each with its contact's login). */
export async function studentLinks(studentId) {
  return quietly(async () => (await api.call("GET",
    `/api/v1/links?student_id=${encodeURIComponent(studentId)}&limit=100`)).items, []);
}

/** The relationship the school recorded, as a reader writes it ("mother", not "MOTHER"). */
export function relationshipText(relationship) {
  return (relationship || "").trim().toLowerCase();
}

/** Who filed a request, whom it is about and how they are related, for a page of requests:
    a Map from request id to { about, filer, relationship } (each a string or null). */
export async function requestPeople(requests) {
  const out = new Map();
  if (!requests.length) return out;
  const bySchool = new Map();
  for (const r of requests) {
    if (!bySchool.has(r.school_id)) bySchool.set(r.school_id, []);
    bySchool.get(r.school_id).push(r);
  }
  const studentIds = requests.filter((r) => r.subject && r.subject.type === "student")
    .map((r) => r.subject.id);
  const [students, ...perSchool] = await Promise.all([studentNames(studentIds),
    ...[...bySchool].map(([schoolId, rs]) => schoolPeople(schoolId, {
      accounts: rs.map((r) => r.filed_by).concat(
        rs.filter((r) => r.subject && r.subject.type === "staff").map((r) => r.subject.id)),
      guardians: rs.filter((r) => r.subject && r.subject.type === "guardian").map((r) => r.subject.id),
    }))]);
  [...bySchool.keys()].forEach((schoolId, i) => {
    const people = perSchool[i];
    for (const r of bySchool.get(schoolId)) {
      const subject = r.subject || {};
      const about = subject.type === "student" ? students.get(subject.id)
        : subject.type === "guardian" ? (people.guardians.get(subject.id) || {}).name
          : subject.type === "staff" ? (people.accounts.get(subject.id) || {}).name : null;
      out.set(r.id, { about: about || null, filer: (people.accounts.get(r.filed_by) || {}).name || null });
    }
  });
  return out;
}

/** How the filer is related to whom the request is about, in words, or null when not known:
    "Pat Sample is Jamie Sample's mother", "Filed by the person it is about". */
export async function requestRelationship(request, names) {
  const subject = request.subject || {};
  if (!request.filed_by || request.filed_as === "school_admin") return t("Filed by the school");
  if (request.filed_as === "student" || subject.type === "guardian") {
    return t("Filed by the person it is about");
  }
  if (request.filed_as !== "parent" || subject.type !== "student" || !subject.id) return null;
  const link = (await studentLinks(subject.id)).find((l) => l.account_id === request.filed_by);
  if (!link || !link.relationship) return null;
  const filer = names.filer || t("The parent who filed it");
  const relationship = relationshipText(link.relationship);
  return names.about
    ? t("{filer} is {child}'s {relationship}", { filer, child: names.about, relationship })
    : t("{filer} is the student's {relationship}", { filer, relationship });
}

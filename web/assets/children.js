// One order for a reader's children on every screen (issue 24): the home, the reports'
// "Choose a child", the requests' "About <name>" sections. By the name the school gave
// (given name first, as linking holds it), compared as people read it (case and accents
// aside, "Sam 2" before "Sam 10"), then by the student's id, so that two children of the
// same name keep one order too. Compared in the reader's language (i18n.js compareNames: in
// Welsh "Llinos" comes after "Lowri"), so a switch of language sorts them again (app.js).

import { compareNames } from "./i18n.js";

export function compareChildren(a, b) {
  return compareNames(a.name || "", b.name || "")
    || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** `items` in the children's order; `child(item)` gives {name, id} (default: the item). */
export function inChildOrder(items, child = (item) => item) {
  return [...items].sort((x, y) => compareChildren(child(x), child(y)));
}

// Passkeys (issue 25): signing in with one instead of a password (no email needed: the
// browser offers the passkeys it holds for this site), and the "Passkeys" section of the
// account settings, where anyone adds one under a name they choose, sees theirs and
// removes them. Only the public API; WebAuthn's binary fields travel as base64url.
// The accessible names the browser tests rely on are listed in web/README.md.

import * as api from "./api.js";
import { t } from "./i18n.js";
import { h, uniqueId } from "./dom.js";
import { announce, announceError, button, explainError, field, form, formatDateTime, show } from "./ui.js";

export function passkeysSupported() {
  return Boolean(window.PublicKeyCredential && navigator.credentials);
}

function fromB64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
}

function toB64url(buffer) {
  let raw = "";
  new Uint8Array(buffer).forEach((b) => { raw += String.fromCharCode(b); });
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function creationOptions(options) {
  return { ...options, challenge: fromB64url(options.challenge),
           user: { ...options.user, id: fromB64url(options.user.id) },
           excludeCredentials: (options.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })) };
}

function requestOptions(options) {
  return { ...options, challenge: fromB64url(options.challenge),
           allowCredentials: (options.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })) };
}

function credentialJson(credential) {
  const r = credential.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  }
  return { id: credential.id, rawId: toB64url(credential.rawId), type: credential.type,
           response, clientExtensionResults: credential.getClientExtensionResults(),
           authenticatorAttachment: credential.authenticatorAttachment || undefined };
}

function deviceRefusal(error) {
  if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
    return t("The passkey was not used: it was cancelled, or the time ran out. Try again.");
  }
  if (error && error.name === "InvalidStateError") {
    return t("This device already holds a passkey for your account.");
  }
  return null;
}

/** A passkey the browser offers, answering a new sign-in challenge. */
async function passkeyAnswer() {
  const begun = await api.publicCall("POST", "/api/v1/auth/passkey/options", {});
  let credential;
  try {
    credential = await navigator.credentials.get({ publicKey: requestOptions(begun.options) });
  } catch (error) {
    throw Object.assign(new Error(deviceRefusal(error) || t("The passkey could not be used.")), { device: true });
  }
  return [begun.challenge_id, credentialJson(credential)];
}

/** Signs in with a passkey the browser offers: resolves once the tokens are kept. */
export async function signInWithPasskey() {
  await api.signInWithPasskey(...await passkeyAnswer());
}

/** The second factor again, by a passkey of the signed-in login (step-up). */
export async function stepUpWithPasskey() {
  await api.stepUpWithPasskey(...await passkeyAnswer());
}

/** What to say when a passkey sign-in fails. */
export function explainPasskeyError(error) {
  if (error.device) return error.message;
  if (error.code === "invalid_passkey") {
    return t("This passkey could not sign you in. It may have been removed: sign in with your password.");
  }
  return explainError(error);
}

async function addPasskey(name, password) {
  const begun = await api.call("POST", "/api/v1/auth/passkeys/registration",
                               password ? { password } : {});
  let credential;
  try {
    credential = await navigator.credentials.create({ publicKey: creationOptions(begun.options) });
  } catch (error) {
    throw Object.assign(new Error(deviceRefusal(error) || t("The passkey could not be created.")), { device: true });
  }
  return api.call("POST", "/api/v1/auth/passkeys",
                  { challenge_id: begun.challenge_id, name, credential: credentialJson(credential) });
}

/** The password field told what is wrong with it (none given, or wrong), and focused. */
function askPassword(password, code, ask) {
  password.setError(code === "invalid_credentials"
    ? t("That password is wrong, or there were too many attempts: try again later.")
    : ask);
  password.input.value = "";
  password.input.focus();
  announceError(ask);
}

function passkeyItem(passkey, redraw, signedOut, password) {
  const remove = async () => {
    password.setError(null);
    try {
      // Asked again as for adding one: a sign-in alone (a stolen one) must not remove it.
      await api.call("DELETE", `/api/v1/auth/passkeys/${passkey.id}`,
                     password.input.value ? { password: password.input.value } : {});
      if (!(await api.signInStands())) { // the passkey began this sign-in: it ended too
        await signedOut(t("Passkey \"{name}\" removed. This device signed in with it, so it is signed out too: sign in with another passkey or your password.",
          { name: passkey.name }));
        return;
      }
      await redraw();
      announce(t("Passkey \"{name}\" removed, with any passkey added while signed in with it. None of them signs you in now, and any other device that signed in with them is signed out.",
        { name: passkey.name }));
    } catch (error) {
      if (error.code === "reauthentication_required" || error.code === "invalid_credentials") {
        askPassword(password, error.code, t("Enter your password to remove a passkey."));
        return;
      }
      announceError(explainError(error));
    }
  };
  return h("li", { class: "passkey" },
    h("p", { class: "passkey__name" }, passkey.name),
    h("p", { class: "hint" }, t("Added {date}.", { date: formatDateTime(passkey.created_at) }), " ",
      passkey.last_used_at ? t("Last used {date}.", { date: formatDateTime(passkey.last_used_at) }) : t("Not used yet.")),
    h("button", { type: "button", class: "button button--secondary",
                  "aria-label": t("Remove passkey {name}", { name: passkey.name }), onclick: remove }, t("Remove")));
}

/** The "Passkeys" section: the login's passkeys, and adding one. `signedOut(message)`:
 *  the sign-in ended here (the passkey that began it removed). */
async function passkeysSection(redraw, signedOut) {
  const { items } = await api.call("GET", "/api/v1/auth/passkeys");
  const headingId = uniqueId("passkeys");
  const name = field({ label: t("Passkey name"), name: "passkey-name", autocomplete: "off",
                       hint: t("So you can tell your passkeys apart, such as \u201cMy phone\u201d or \u201cWork laptop\u201d."),
                       attrs: { maxlength: 60 } });
  const password = field({ label: t("Your password"), type: "password", name: "current-password",
                           autocomplete: "current-password", required: false,
                           hint: t("To check it is you, when adding or removing a passkey. Not needed within 15 minutes of signing in with a passkey or an authenticator code.") });
  const problem = h("p", { class: "form-error", role: "alert", hidden: true });
  const submit = async () => {
    problem.hidden = true;
    name.setError(null);
    password.setError(null);
    const value = name.input.value.trim();
    if (!value) { name.setError(t("Give the passkey a name.")); name.input.focus(); return; }
    try {
      const added = await addPasskey(value, password.input.value);
      await redraw();
      announce(t("Passkey \"{name}\" added. You can sign in with it instead of your password.", { name: added.name }));
    } catch (error) {
      if (error.code === "reauthentication_required" || error.code === "invalid_credentials") {
        askPassword(password, error.code, t("Enter your password to add a passkey."));
        return;
      }
      problem.textContent = error.device ? error.message : explainError(error);
      problem.hidden = false;
    }
  };
  return h("section", { class: "card", "aria-labelledby": headingId },
    h("h2", { id: headingId }, t("Passkeys")),
    h("p", {}, t("A passkey signs you in with your device's screen lock (your fingerprint, face or PIN) instead of your password. For school staff it counts as both steps of signing in.")),
    items.length
      ? h("ul", { class: "passkeys", "aria-label": t("Your passkeys") }, items.map((p) => passkeyItem(p, redraw, signedOut, password)))
      : h("p", {}, t("You have no passkeys yet.")),
    passkeysSupported()
      ? form(submit, problem, name.wrapper, password.wrapper, button(t("Add a passkey")))
      : h("p", { class: "notice" }, t("This browser cannot create passkeys.")));
}

/** Account settings: for now, the passkeys. `signedOut(message)` shows the sign-in
 *  screen saying why, once the sign-in has ended. */
export async function accountScreen(signedOut) {
  const draw = async () => {
    show(t("Account settings"), await passkeysSection(draw, signedOut));
  };
  await draw();
}

// The second factor of school staff and operators (issue 25): after the password, the
// authenticator app's code (or a recovery code); at the first sign-in, setting up the app
// with a QR code drawn by identity (or its key typed in) and keeping the recovery codes.
// A login whose only second factor is a passkey is sent to sign in with it instead.
// The accessible names the browser tests rely on are listed in web/README.md.

import * as api from "./api.js";
import { h } from "./dom.js";
import { N_, t } from "./i18n.js";
import { explainPasskeyError, passkeysSupported, stepUpWithPasskey } from "./passkeys.js";
import { announce, button, explainError, field, form, show } from "./ui.js";

const CODE_HINT = N_("The 6-digit code your authenticator app shows now.");

/** The screen the sign-in needs: setting up the app, or its code. `done()` continues. */
export async function secondFactorScreen(done) {
  if (api.secondFactorState() === "enrol") return enrolScreen(done);
  if (api.secondFactorState() === "passkey") return passkeyOnlyScreen();
  return codeScreen(done);
}

/** A login whose only second factor is a passkey, signed in with the password: the
 *  password alone reaches nothing and sets up no app; the passkey signs in. */
function passkeyOnlyScreen() {
  show(t("Sign in with your passkey"),
    h("p", {}, t("Your two-step sign-in is a passkey: your password alone is not enough. Sign out, then choose “Sign in with a passkey” on this device or one that holds your passkey.")),
    h("p", {}, t("Lost your passkey? Ask another administrator of your school, or Pupil Progress, to reset your two-step sign-in.")),
    h("p", {}, h("a", { href: "/sign-out", class: "button" }, t("Sign out"))));
}

/** Where a refused code or passkey is said: once, its own alert (not the page's alert box too). */
function problemLine() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

function refused(problem, input, error) {
  problem.textContent = error.code === "invalid_second_factor"
    ? t("That code is wrong or was used already. Wait for the next code and try again.")
    : explainError(error);
  problem.hidden = false;
  input.value = "";
  input.focus();
}

function codeScreen(done) {
  const code = field({ label: t("Code"), name: "one-time-code", autocomplete: "one-time-code",
                       hint: `${t(CODE_HINT)} ${t("Lost your phone? Enter one of your recovery codes instead.")}`,
                       attrs: { inputmode: "text", spellcheck: "false", autocapitalize: "off" } });
  const problem = problemLine();
  const submit = async () => {
    problem.hidden = true;
    code.setError(null);
    const value = code.input.value.replace(/\s+/g, "");
    if (!value) { code.setError(t("Enter the code from your app.")); code.input.focus(); return; }
    try {
      await api.passSecondFactor(/^\d{6}$/.test(value) ? { code: value } : { recovery_code: value });
      await done();
      announce(t("You are signed in."));
    } catch (error) {
      refused(problem, code.input, error);
    }
  };
  show(t("Enter your code"),
    h("p", {}, t("School staff and operators sign in in two steps: your password, then a code from your authenticator app.")),
    form(submit, problem, code.wrapper, button(t("Continue"))),
    h("p", {}, h("a", { href: "/sign-out" }, t("Cancel and sign out"))));
}

function groups(key) {
  return key.match(/.{1,4}/g).join(" ");
}

async function enrolScreen(done) {
  let enrolment;
  try {
    enrolment = await api.enrolTotp();
  } catch (error) {
    show(t("Set up two-step sign-in"), h("p", { class: "form-error" }, explainError(error)),
      h("p", {}, h("a", { href: "/sign-out" }, t("Sign out"))));
    return;
  }
  const code = field({ label: t("Code from the app"), name: "one-time-code",
                       autocomplete: "one-time-code", hint: t(CODE_HINT),
                       attrs: { inputmode: "numeric", spellcheck: "false" } });
  const problem = problemLine();
  const submit = async () => {
    problem.hidden = true;
    code.setError(null);
    const value = code.input.value.replace(/\s+/g, "");
    if (!/^\d{6}$/.test(value)) { code.setError(t("Enter the 6 digits the app shows.")); code.input.focus(); return; }
    try {
      const codes = await api.confirmTotp(value);
      recoveryCodesScreen(codes, done);
      announce(t("Two-step sign-in is set up."));
    } catch (error) {
      refused(problem, code.input, error);
    }
  };
  const qr = h("img", { class: "qr-code", width: 180, height: 180,
                        alt: t("QR code of your sign-in key, for your authenticator app"),
                        src: `data:image/svg+xml;base64,${btoa(enrolment.qr_svg)}` });
  show(t("Set up two-step sign-in"),
    h("p", {}, t("Your account can reach people's personal data, so it is protected by a second step: a code from an authenticator app on your phone (such as Google Authenticator, Microsoft Authenticator or FreeOTP).")),
    h("ol", { class: "steps" },
      h("li", {}, t("Open the authenticator app and add an account.")),
      h("li", {}, t("Scan this QR code, or type in the key below."),
        h("figure", { class: "qr" }, qr,
          h("figcaption", {}, t("Key: "), h("code", { class: "totp-key" }, groups(enrolment.key))))),
      h("li", {}, t("Enter the code the app shows."))),
    form(submit, problem, code.wrapper, button(t("Confirm"))),
    h("p", {}, h("a", { href: "/sign-out" }, t("Cancel and sign out"))));
}

function recoveryCodesScreen(codes, done) {
  const list = h("ul", { class: "recovery-codes", "aria-label": t("Recovery codes") },
    codes.map((c) => h("li", {}, h("code", {}, c))));
  show(t("Keep your recovery codes"),
    h("p", {}, t("If you lose your phone, each of these codes signs you in once instead of the app's code. Keep them somewhere safe, apart from your phone: they are shown only now.")),
    list,
    form(async () => { await done(); }, button(t("I have kept my recovery codes"))));
}

// --- the code again, for the gravest actions ---------------------------------------------

/** A dialog asking for the app's code (or a recovery code) again: true once passed,
 *  false if the person cancels. */
function askForCodeAgain() {
  return new Promise((resolve) => {
    const code = field({ label: t("Code"), name: "step-up-code", autocomplete: "one-time-code",
                         hint: t(CODE_HINT), attrs: { inputmode: "text", spellcheck: "false" } });
    const problem = problemLine();
    let passed = false;
    const dialog = h("dialog", { class: "step-up", "aria-labelledby": "step-up-heading" });
    const submit = async () => {
      problem.hidden = true;
      const value = code.input.value.replace(/\s+/g, "");
      if (!value) { code.setError(t("Enter the code from your app.")); code.input.focus(); return; }
      try {
        await api.passSecondFactor(/^\d{6}$/.test(value) ? { code: value } : { recovery_code: value });
        passed = true;
        dialog.close();
      } catch (error) {
        refused(problem, code.input, error);
      }
    };
    const instead = passkeyInstead(problem, () => { passed = true; dialog.close(); });
    dialog.append(
      h("h2", { id: "step-up-heading" }, t("Enter your code again")),
      h("p", {}, t("Approving an erasure, issuing or revoking credentials, offboarding a school and unlocking a link need a code from your authenticator app within the last 15 minutes.")),
      form(submit, problem, code.wrapper, button(t("Continue")),
        h("button", { type: "button", class: "button button--secondary",
                      onclick: () => dialog.close() }, t("Cancel"))),
      ...(instead ? [instead] : []));
    dialog.addEventListener("close", () => { dialog.remove(); resolve(passed); });
    document.body.append(dialog);
    dialog.showModal();
    code.input.focus();
  });
}

/** For staff who sign in with a passkey (some have no app at all): the passkey instead
 *  of the code, where the browser can use one. */
function passkeyInstead(problem, done) {
  if (!passkeysSupported()) return null;
  const usePasskey = async () => {
    problem.hidden = true;
    try {
      await stepUpWithPasskey();
      done();
    } catch (error) {
      problem.textContent = explainPasskeyError(error);
      problem.hidden = false;
    }
  };
  return h("p", { class: "step-up__passkey" }, t("Or, if you sign in with a passkey:"), " ",
    h("button", { type: "button", class: "button button--secondary", onclick: usePasskey },
      t("Use a passkey instead")));
}

api.onStepUp(askForCodeAgain);

// The public API (/api/v1), as the mobile apps use it. The access token lives only in this
// module's memory; the refresh token in sessionStorage (this tab only, gone when it
// closes) so that a reload keeps the reader signed in. Never localStorage
// (docs/decisions.md, "The web app").

import { currentLanguage, t } from "./i18n.js";

const REFRESH_KEY = "pp.refresh";
const EARLY_SECONDS = 30; // refresh a little before the access token expires

let accessToken = null;
let accessExpiresAt = 0;
let refreshing = null; // one refresh at a time: a rotated token used twice revokes the sign-in
// Counts the sign-ins this tab has kept (a password, a passkey, a step-up replacing the
// sign-in): a refresh begun under an older one changes nothing when it ends, so the
// newest sign-in wins (a step-up ending while the old sign-in's refresh is in flight).
let generation = 0;
// Why the sign-in ended, when identity said ("sign_in_expired": its absolute lifetime),
// for the sign-in screen to tell the person; taken once (takeEndReason).
let endReason = null;
// Staff and operators: where the sign-in stands with its second factor ("enrol",
// "required", "passkey" (only a passkey: sign in with it), "passed"); null for the roles
// that need none.
let secondFactor = null;
let signedInRole = null; // the role this sign-in acts in (a step-up keeps it)
// The console's prompt for the authenticator code again (second-factor.js), for the
// gravest actions when the code is older than 15 minutes: resolves true once passed.
let stepUp = null;

export function onStepUp(prompt) {
  stepUp = prompt;
}

/** A 401 step_up_required: the code again (if the person gives it), then true. */
async function steppedUp(error) {
  return error.code === "step_up_required" && stepUp !== null && await stepUp();
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || t("The request failed ({status}).", { status }));
    this.status = status;
    this.code = error.code || "error";
    this.fields = error.fields || {};
    this.details = error;
  }
}

function storedRefreshToken() {
  try {
    return sessionStorage.getItem(REFRESH_KEY);
  } catch {
    return null; // storage disabled: the sign-in lasts as long as the page
  }
}

/** Tokens of a new sign-in (not a refresh of this one): any refresh in flight is stale. */
function keepSignIn(answer) {
  generation += 1;
  endReason = null;
  refreshing = null; // the next refresh is the new sign-in's
  keepTokens(answer);
}

function keepTokens(answer) {
  accessToken = answer.access_token;
  secondFactor = answer.second_factor || null;
  signedInRole = answer.role || null;
  accessExpiresAt = Date.now() + (answer.expires_in || 0) * 1000;
  try {
    if (answer.refresh_token) sessionStorage.setItem(REFRESH_KEY, answer.refresh_token);
  } catch {
    // without storage, a reload asks to sign in again
  }
}

export function forgetTokens() {
  accessToken = null;
  secondFactor = null;
  accessExpiresAt = 0;
  try {
    sessionStorage.removeItem(REFRESH_KEY);
  } catch {
    // nothing stored
  }
}

export function hasSession() {
  return Boolean(accessToken || storedRefreshToken());
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json", "Accept-Language": currentLanguage() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, { method, headers, credentials: "omit", cache: "no-store",
                                   body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, { error: { code: "offline",
      message: t("We could not reach Pupil Progress. Check your connection and try again.") } });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

async function refresh() {
  const token = storedRefreshToken();
  if (!token) return false;
  if (!refreshing) {
    const begun = generation;
    // A newer sign-in was kept while this refresh was in flight: its tokens stand, and
    // the old sign-in's answer (new tokens, or a refusal once it was signed out) is
    // dropped, not kept over them.
    const superseded = () => generation !== begun;
    const ending = send("POST", "/api/v1/auth/token", { grant_type: "refresh_token",
                                                        refresh_token: token })
      .then((answer) => {
        if (!superseded()) keepTokens(answer);
        return true;
      })
      .catch((error) => {
        if (superseded()) return true;
        // Offline: the sign-in stands (the copies kept for reading offline are its); the
        // caller learns that the network is missing, not that the reader is signed out.
        if (error.status === 0) throw error;
        if (error.status === 401 || error.status === 400) {
          endReason = error.details.reason || null;
          forgetTokens();
        }
        return false;
      })
      .finally(() => { if (refreshing === ending) refreshing = null; });
    refreshing = ending;
  }
  return refreshing;
}

/** Why the sign-in ended, if identity said ("sign_in_expired"), once; else null. */
export function takeEndReason() {
  const reason = endReason;
  endReason = null;
  return reason;
}

async function currentToken() {
  if (accessToken && Date.now() < accessExpiresAt - EARLY_SECONDS * 1000) return accessToken;
  if (await refresh()) return accessToken;
  return accessToken;
}

/** A call that needs the signed-in reader; a 401 refreshes once and retries. */
export async function call(method, path, body) {
  const token = await currentToken();
  if (!token) throw new ApiError(401, { error: { code: "unauthorized",
                                                 message: t("Please sign in.") } });
  try {
    return await send(method, path, body, token);
  } catch (error) {
    if (await steppedUp(error)) return send(method, path, body, accessToken);
    if (error.status !== 401 || error.code === "step_up_required" || !(await refresh())) {
      throw error;
    }
    return send(method, path, body, accessToken);
  }
}

/** Whether this sign-in still stands, asked of identity by a refresh: false once it
 *  has ended (the passkey that began it removed, here or elsewhere), its tokens gone.
 *  Without storage there is no refresh token to ask with: its access token tells, later. */
export async function signInStands() {
  return !storedRefreshToken() || refresh();
}

/** A call anyone may make (sign-in, activation, the data map). */
export function publicCall(method, path, body) {
  return send(method, path, body, null);
}

export async function signIn(email, password) {
  keepSignIn(await publicCall("POST", "/api/v1/auth/token",
                              { grant_type: "password", email, password }));
}

/** A passkey's answer to a sign-in challenge: tokens, both factors passed. */
export async function signInWithPasskey(challengeId, credential) {
  keepSignIn(await publicCall("POST", "/api/v1/auth/passkey",
                              { challenge_id: challengeId, credential }));
}

/** The login a token is for (its `sub`). */
function tokenSubject(token) {
  const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(atob(payload)).sub;
}

async function logoutQuietly(refreshToken) {
  try {
    await publicCall("POST", "/api/v1/auth/logout", { refresh_token: refreshToken });
  } catch {
    // it expires on its own
  }
}

/** The second factor again by a passkey (staff whose factor is older than 15 minutes): a
 *  new sign-in of the same login, in the same role, replacing this one. Another login's
 *  passkey changes nothing here. */
export async function stepUpWithPasskey(challengeId, credential) {
  const before = accessToken ? tokenSubject(accessToken) : null;
  const answer = await publicCall("POST", "/api/v1/auth/passkey",
                                  { challenge_id: challengeId, credential, role: signedInRole });
  if (tokenSubject(answer.access_token) !== before) {
    await logoutQuietly(answer.refresh_token);
    throw new ApiError(403, { error: { code: "another_login",
      message: t("That passkey is another person's: use one of yours, or your code.") } });
  }
  const previous = storedRefreshToken();
  keepSignIn(answer); // a refresh of the old sign-in still in flight keeps nothing now
  if (previous) await logoutQuietly(previous);
}

/** "enrol", "required" or "passkey" while a staff sign-in has still to pass its second
 *  factor. */
export function secondFactorState() {
  return secondFactor;
}

/** A call with the current token, never retried: a wrong code must count once. */
async function callOnce(method, path, body) {
  const token = await currentToken();
  if (!token) throw new ApiError(401, { error: { code: "unauthorized", message: t("Please sign in.") } });
  return send(method, path, body, token);
}

/** A new authenticator key for the login: { key, uri, qr_svg }. */
export function enrolTotp() {
  return callOnce("POST", "/api/v1/auth/second-factor/totp", {});
}

/** The first code confirms the key; the sign-in has passed. Returns the recovery codes. */
export async function confirmTotp(code) {
  const answer = await callOnce("POST", "/api/v1/auth/second-factor/totp/confirm", { code });
  keepTokens(answer);
  return answer.recovery_codes;
}

/** Passes the second factor with the app's code or a recovery code. */
export async function passSecondFactor(body) {
  keepTokens(await callOnce("POST", "/api/v1/auth/second-factor", body));
}

/** A token for another of the login's roles (a refresh naming it); the sign-in keeps
 *  that role from then on. */
export async function switchRole(role) {
  if (refreshing) await refreshing;
  const token = storedRefreshToken();
  if (!token) throw new ApiError(401, { error: { code: "unauthorized", message: t("Please sign in.") } });
  keepTokens(await send("POST", "/api/v1/auth/token", { grant_type: "refresh_token",
                                                        refresh_token: token, role }));
}

export async function signOut() {
  const token = storedRefreshToken();
  forgetTokens();
  if (token) {
    try {
      await publicCall("POST", "/api/v1/auth/logout", { refresh_token: token });
    } catch {
      // signed out here in any case; the token expires on its own
    }
  }
}

async function sendRaw(method, path, body, token) {
  const headers = { Accept: "application/json, application/zip",
                    "Accept-Language": currentLanguage() };
  if (token) headers.Authorization = `Bearer ${token}`;
  try {
    return await fetch(path, { method, headers, credentials: "omit", cache: "no-store", body });
  } catch {
    throw new ApiError(0, { error: { code: "offline",
      message: t("We could not reach Pupil Progress. Check your connection and try again.") } });
  }
}

/** A call whose body or answer is not JSON (a file upload as FormData, a zip to download):
 *  the Response once it is ok; a 401 refreshes once and retries, as call() does. */
export async function callRaw(method, path, body) {
  let response = await sendRaw(method, path, body, await currentToken());
  if (response.status === 401 && await refresh()) {
    response = await sendRaw(method, path, body, accessToken);
  }
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    throw new ApiError(response.status, data);
  }
  return response;
}

// Every call to vigil's JSON API goes through api(). When vigil has users or an API token it
// answers 401 to a stranger: the page then asks once (whatever number of requests were
// waiting) for a user's name and password (POST /api/login sets a session cookie the browser
// sends from then on) or the API token (kept in localStorage, sent as `Authorization: Bearer`).
// A <video>, a download link or a WebSocket cannot send a header: withToken() puts the token in
// the URL instead, which the server accepts on a clip's file and a camera's live view only.

const KEY = 'vigil.token';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  try {
    return localStorage.getItem(KEY) || '';
  } catch {
    return '';
  }
}

function saveToken(t) {
  try {
    localStorage.setItem(KEY, t);
  } catch {
    // Private mode without storage: the token lasts until this page is closed.
    memoryToken = t;
  }
}
let memoryToken = '';
const currentToken = () => token() || memoryToken;

let asking = null;

/**
 * Shows the sign-in dialog (a user's name and password, or the API token); resolves once
 * either worked. `refused`: the last attempt's credentials were refused.
 */
function askSignIn(refused) {
  if (asking) return asking;
  const dialog = document.getElementById('token-dialog');
  const loginForm = document.getElementById('login-form');
  const loginError = document.getElementById('login-error');
  const tokenForm = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const tokenError = document.getElementById('token-error');
  loginError.textContent = refused ? 'Please sign in again.' : '';
  tokenError.textContent = refused && currentToken() ? 'That token was refused: enter the right one.' : '';
  asking = new Promise((resolve) => {
    const finish = () => {
      loginForm.removeEventListener('submit', signIn);
      tokenForm.removeEventListener('submit', useToken);
      dialog.close();
      asking = null;
      resolve();
      window.dispatchEvent(new Event('vigil:signed-in'));
    };
    const signIn = async (ev) => {
      ev.preventDefault();
      const name = document.getElementById('login-name').value;
      const pw = document.getElementById('login-password');
      loginError.textContent = '';
      let res;
      try {
        res = await fetch('/api/login', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify({ name, password: pw.value }),
        });
      } catch (e) {
        loginError.textContent = `vigil is not answering (${e.message})`;
        return;
      }
      if (res.ok) {
        pw.value = '';
        // A session now: a token kept from before would be sent first.
        saveToken('');
        finish();
        return;
      }
      const data = await res.json().catch(() => null);
      loginError.textContent = data?.error || `${res.status} ${res.statusText}`;
      pw.select();
    };
    const useToken = (ev) => {
      ev.preventDefault();
      const t = input.value.trim();
      if (!t) return;
      saveToken(t);
      input.value = '';
      finish();
    };
    loginForm.addEventListener('submit', signIn);
    tokenForm.addEventListener('submit', useToken);
    // Needed for everything: Escape does not dismiss the dialog.
    dialog.addEventListener('cancel', (ev) => ev.preventDefault(), { once: true });
    // Without users there is only the token to ask for.
    const details = document.getElementById('token-details');
    fetch('/api/me', { headers: { Accept: 'application/json' }, cache: 'no-store' })
      .then((r) => r.json())
      .catch(() => ({ login: true }))
      .then((me) => {
        loginForm.hidden = !me.login;
        details.open = !me.login;
        if (!dialog.open) dialog.showModal();
        (me.login ? document.getElementById('login-name') : input).focus();
      });
  });
  return asking;
}

/** Ends the session (and forgets a token kept in this browser). */
export async function signOut() {
  saveToken('');
  await fetch('/api/logout', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })
    .catch(() => {});
}

const conn = { ok: null };

function setConn(ok, message) {
  if (conn.ok === ok && conn.message === message) return;
  conn.ok = ok;
  conn.message = message;
  const el = document.getElementById('conn');
  if (!el) return;
  el.textContent = ok ? 'live' : 'offline';
  el.title = ok ? 'connected to vigil' : message;
  el.classList.toggle('down', !ok);
}

/** A JSON API call: resolves to the answer's JSON, rejects with an ApiError ({error} of a 4xx/5xx). */
export async function api(path, { method = 'GET', body } = {}) {
  for (;;) {
    const t = currentToken();
    const headers = { Accept: 'application/json' };
    if (t) headers.Authorization = `Bearer ${t}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (e) {
      setConn(false, `vigil is not answering (${e.message})`);
      throw new ApiError(0, 'vigil is not answering');
    }
    setConn(true);
    if (res.status === 401) {
      await askSignIn(Boolean(t));
      continue;
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!res.ok) throw new ApiError(res.status, data?.error ?? `${res.status} ${res.statusText}`);
    return data;
  }
}

/** `path` with the token as `?token=`, for what cannot send a header. */
export function withToken(path) {
  const t = currentToken();
  if (!t) return path;
  return `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(t)}`;
}

/** The URL of a clip's MP4, usable by <video src> and <a download>. */
export function fileUrl(id) {
  return withToken(`/api/recordings/${encodeURIComponent(id)}/file`);
}

/** A clip's picture (the frame at its motion start), usable by <img src>. */
export function thumbUrl(id) {
  return withToken(`/api/recordings/${encodeURIComponent(id)}/thumbnail.jpg`);
}

/** A camera's newest keyframe as a JPEG; `bust` makes each URL new (a fresh picture). */
export function snapshotUrl(name, bust = Date.now()) {
  return withToken(`/api/cameras/${encodeURIComponent(name)}/snapshot.jpg?t=${bust}`);
}

export const enc = encodeURIComponent;

// Helpers shared by the demo pages (chat, call, notes, check): DOM building, the
// status pill and the error box of the top bar layout, development tokens,
// and SDK errors in words for people.

/** @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** An error with a machine-readable code, as the SDK's errors have. */
export class DemoError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * @param {string} tag
 * @param {string} [cls]
 * @param {string} [text]
 */
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** @param {{peer: string, name?: string, user?: string}} p */
export function displayName(p) {
  return p.name || p.user || `peer ${p.peer.slice(0, 6)}`;
}

/** @param {string} name */
export function initials(name) {
  return (
    name
      .split(/[\s._-]+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((w) => w[0].toUpperCase())
      .join('') || '?'
  );
}

/**
 * The status pill in the top bar (#status, #status-text) and <body data-state>.
 * @param {string} state
 * @param {string} text
 */
export function setStatus(state, text) {
  document.body.dataset.state = state;
  $('status').dataset.state = state;
  $('status-text').textContent = text;
}

/**
 * Shows or hides the page's error box (#error, #error-title, #error-text).
 * @param {{code?: string, message: string}|null} err
 * @param {string} [title]
 * @returns {{code: string, message: string, title: string}|null} what is shown
 */
export function showError(err, title = 'Something went wrong') {
  $('error').hidden = !err;
  $('error-title').textContent = err ? title : '';
  $('error-text').textContent = err ? err.message : '';
  return err ? { code: err.code ?? 'error', message: err.message, title } : null;
}

/**
 * Asks the server for a development token (only there with --dev).
 * @param {string} user
 * @param {string} [name]
 * @returns {Promise<string>}
 */
export async function fetchDevToken(user, name = user) {
  let res;
  try {
    const q = new URLSearchParams({ user, name });
    res = await fetch(`/v1/dev/token?${q}`, { cache: 'no-store' });
  } catch {
    throw new DemoError('unreachable', `Cannot reach the server at ${location.host}. Is it running?`);
  }
  if (res.status === 404) {
    throw new DemoError('no_dev_token', 'This server does not hand out development tokens. Paste a token to continue.');
  }
  if (!res.ok) {
    const body = (await res.text().catch(() => '')).trim().slice(0, 200);
    throw new DemoError('token_failed', `The server did not give a token (HTTP ${res.status}${body ? `: ${body}` : ''}).`);
  }
  const body = await res.json().catch(() => null);
  if (!body || typeof body.token !== 'string') throw new DemoError('token_failed', 'The token answer has no token in it.');
  return body.token;
}

/**
 * Gets a token for joining: the pasted one when the token box is shown and
 * filled, else a development token. When the server has no development
 * tokens, shows the token box and throws a DemoError 'no_dev_token'.
 * @param {string} user
 * @param {HTMLElement} tokenBox
 * @param {HTMLTextAreaElement} tokenInput
 * @returns {Promise<{token: string, getToken?: () => Promise<string>}>}
 */
export async function obtainToken(user, tokenBox, tokenInput) {
  const pasted = tokenBox.hidden ? '' : tokenInput.value.trim();
  if (pasted) return { token: pasted };
  try {
    return { token: await fetchDevToken(user), getToken: () => fetchDevToken(user) };
  } catch (err) {
    if (/** @type {DemoError} */ (err).code === 'no_dev_token') {
      tokenBox.hidden = false;
      tokenInput.focus();
    }
    throw err;
  }
}

/**
 * Why the client reports an error, as [title, text] for people.
 * @param {any} err
 * @param {string} [roomName]
 * @returns {[string, string]}
 */
export function explain(err, roomName = 'this room') {
  switch (err?.code) {
    case 'unreachable':
      return ['Server unreachable', `Cannot reach the signaling server at ${location.host}. Retrying…`];
    case 'no_dev_token':
      return ['Token needed', err.message];
    case 'unauthorized':
      return ['Token refused', `The server refused the token${err.message ? `: ${err.message}` : ''}.`];
    case 'token_expired':
      return ['Token expired', 'The token has expired. Get a new one and join again.'];
    case 'forbidden':
      return ['Not allowed', `This token does not allow joining “${roomName}”.`];
    case 'limit_exceeded':
      return ['Limit reached', err.message || 'A server limit was reached.'];
    case 'too_many_sessions':
      return ['Too many sessions', err.message];
    case 'rate_limited':
      return ['Slow down', 'The server is rate-limiting this connection.'];
    default:
      return ['Something went wrong', err?.message || String(err)];
  }
}

/** @param {number|null|undefined} bps bits per second */
export function formatBitrate(bps) {
  if (bps == null || !Number.isFinite(bps)) return '—';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(bps >= 1e7 ? 0 : 1)} Mbit/s`;
  if (bps >= 1e3) return `${Math.round(bps / 1e3)} kbit/s`;
  return `${Math.round(bps)} bit/s`;
}

/** @param {number|null|undefined} ms */
export function formatMs(ms) {
  if (ms == null || !Number.isFinite(ms)) return '—';
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}

/**
 * A link that opens the current page with ?room=... for a second participant.
 * @param {string} roomName
 */
export function inviteURL(roomName) {
  const u = new URL(location.href);
  u.search = '';
  u.searchParams.set('room', roomName);
  return u.href;
}

/**
 * @typedef {object} SessionHooks how a page follows its client
 * @property {() => any} current the page's current client (events of others are ignored)
 * @property {() => boolean} inRoom whether the page has joined its room
 * @property {(client: any) => void} connected the welcome arrived (again)
 * @property {(state: string, text: string) => void} status connection state changes
 * @property {(err: any) => void} error the client reports an error
 * @property {() => void} fatal the client gave up (no more reconnection)
 */

/**
 * Makes a Switchboard client and wires its events to a page's hooks.
 * @param {typeof import('/sdk/switchboard.js').Switchboard} Switchboard
 * @param {{token: string, getToken?: () => Promise<string>}} auth
 * @param {SessionHooks} page
 * @param {RTCConfiguration} [rtcConfig] settings for every peer connection
 */
export function createClient(Switchboard, { token, getToken }, page, rtcConfig) {
  const client = new Switchboard({ auth: { token }, getToken, ...(rtcConfig ? { rtcConfig } : {}) });
  const mine = () => page.current() === client;
  client.on('connect', () => {
    if (mine()) page.connected(client);
  });
  client.on('disconnect', (reason) => {
    if (mine() && client.active) page.status('reconnecting', `Connection lost (${reason}), reconnecting…`);
  });
  client.on('reconnect_attempt', (n) => {
    if (mine()) page.status(page.inRoom() ? 'reconnecting' : 'connecting', `Reconnecting (attempt ${n})…`);
  });
  client.on('error', (err) => {
    if (!mine()) return;
    page.error(err);
    if (!client.active) page.fatal();
  });
  client.on('reconnect_failed', () => {
    if (mine()) page.fatal();
  });
  return client;
}

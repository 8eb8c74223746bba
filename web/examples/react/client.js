// The one Switchboard client of the app.
//
// THE RULE: create the client once, at module level, and import it where it
// is needed. Never create it in a component's render (every render would
// make a new WebSocket) nor in a useEffect (React 18's <StrictMode> runs
// every effect twice in development: mount, unmount, mount, so two clients
// and two connections). A module is evaluated once per page, whatever React
// does, so `sb` below is the same object for the life of the page.
//
// autoConnect is off: nothing connects until the first room is joined
// (useRoom.js calls sb.connect()), and the token is fetched then, for the
// name the user picked.

import { Switchboard } from '/sdk/switchboard.js';

/** Who the next token is for; set by signIn() before the first join. */
let identity = { user: '', name: '' };

/**
 * Fetches a development token from the server (`switchboard serve --dev`).
 * A real app asks its own backend instead, which checks who the user is and
 * mints a token with `switchboard token` or a JWT library.
 * @returns {Promise<string>}
 */
async function getToken() {
  if (!identity.user) throw new Error('pick a name first');
  const q = new URLSearchParams({ user: identity.user, name: identity.name });
  let res;
  try {
    res = await fetch(`/v1/dev/token?${q}`, { cache: 'no-store' });
  } catch {
    throw new Error(`cannot reach the server at ${location.host}`);
  }
  if (res.status === 404) throw new Error('this server hands out no development tokens: start it with --dev');
  if (!res.ok) throw new Error(`the server gave no token (HTTP ${res.status})`);
  const body = await res.json();
  if (typeof body?.token !== 'string') throw new Error('the token answer has no token');
  return body.token;
}

export const sb = new Switchboard({ autoConnect: false, getToken });

/**
 * Sets who the user is. Call it before joining a room (not while one is in
 * use: a new name means a new token and so a new connection).
 * @param {string} name display name, also used as the user id here
 */
export function signIn(name) {
  if (name === identity.name) return;
  identity = { user: name, name };
  sb.auth = {}; // forget the last token: the next connect fetches one for this name
  if (sb.active) sb.disconnect(); // still up from a room being left: start over as the new name
}

/** The name signIn() was given. */
export function signedInAs() {
  return identity.name;
}

// What a Switchboard is made with: its options and their defaults, and the
// URL of the signaling endpoint it connects to. No DOM beyond the page's
// location: it runs under Node.

import { SwitchboardError } from './protocol.js';

/**
 * @typedef {object} SwitchboardOptions
 * @property {{token?: string}} [auth] credentials sent in the hello frame
 * @property {() => string|Promise<string>} [getToken] fetches a fresh token:
 *   used when auth.token is missing, when the server warns that the token
 *   expires soon (token-expiring), before a reconnection when the token
 *   expires within a minute, and after the server refused a token
 * @property {boolean} [autoConnect=true] connect from the constructor
 * @property {boolean} [reconnection=true] reconnect after a lost connection
 * @property {number} [reconnectionAttempts=Infinity] attempts before "reconnect_failed"
 * @property {number} [reconnectionDelay=1000] first delay, in milliseconds
 * @property {number} [reconnectionDelayMax=5000] largest delay, in milliseconds
 * @property {number} [randomizationFactor=0.5] jitter, 0 to 1
 * @property {number} [timeout=20000] time for a connection to reach the welcome frame
 * @property {number} [requestTimeout=10000] time for a request to get its reply
 * @property {number} [pingInterval=20000] time between heartbeat pings
 * @property {number} [pingTimeout=10000] time for a pong before the connection counts as dead
 * @property {number} [tokenRefreshDelay=2000] first delay before a failed token refresh is
 *   tried again, in milliseconds; it doubles (at most 30 s) until the token expires
 * @property {RTCConfiguration} [rtcConfig] settings for every RTCPeerConnection, such as
 *   {iceTransportPolicy: 'relay'}; its iceServers, if given, replace the server's
 * @property {typeof WebSocket} [WebSocket] WebSocket constructor (non-browser use, tests)
 * @property {typeof RTCPeerConnection} [RTCPeerConnection] RTCPeerConnection constructor
 * @property {typeof MediaStream} [MediaStream] MediaStream constructor for remote streams
 */

export const DEFAULTS = {
  autoConnect: true,
  reconnection: true,
  reconnectionAttempts: Infinity,
  reconnectionDelay: 1000,
  reconnectionDelayMax: 5000,
  randomizationFactor: 0.5,
  timeout: 20000,
  requestTimeout: 10000,
  pingInterval: 20000,
  pingTimeout: 10000,
  tokenRefreshDelay: 2000,
};

/**
 * The URL of the signaling endpoint: the given one (http(s) becomes ws(s),
 * relative URLs resolve against the page), or /ws on the page's host.
 * @param {string} [url]
 * @param {{protocol: string, host: string, href: string}} [loc] the page's location
 * @returns {string}
 */
export function resolveURL(url, loc = /** @type {any} */ (globalThis).location) {
  if (url === undefined || url === '') {
    if (!loc) throw new SwitchboardError('bad_url', 'no URL given and no page location to default to');
    return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws`;
  }
  const u = loc ? new URL(url, loc.href) : new URL(url);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new SwitchboardError('bad_url', `not a WebSocket URL: ${url}`);
  }
  return u.href;
}

// The token of a Switchboard's session: which one the server knows and when
// it expires, and its refresh through getToken when the server warns that it
// expires soon (token-expiring), tried again with backoff until it expires.
// No DOM: it runs under Node.

import { Backoff } from './backoff.js';
import { ClientErrorCode, ErrorCode, SwitchboardError } from './protocol.js';

/** Largest delay between attempts to refresh the token, in milliseconds. */
const TOKEN_REFRESH_DELAY_MAX = 30000;

/**
 * A token that expires within this many milliseconds is replaced through
 * getToken before a hello (the server would warn about it at once).
 */
const TOKEN_MIN_LIFE = 60000;

/** Error codes with which the server refuses a token: final, not worth retrying. */
const TOKEN_REFUSALS = new Set([ErrorCode.FORBIDDEN, ErrorCode.UNAUTHORIZED, ErrorCode.TOKEN_EXPIRED]);

/**
 * @typedef {object} TokenHost what the token's refresh needs from its Switchboard
 * @property {boolean} connected
 * @property {(token: string) => Promise<number>} refresh replaces the session's token
 * @property {(event: string, ...args: any[]) => boolean} emit
 */

export class SessionToken {
  /** @type {string|null} the token the hello sent (or the last refresh), and expires its expiry (unix seconds) */
  token = null;
  /** @type {number|null} */
  expires = null;

  #host;
  #opts;
  /** @type {any} */ #timer = null;
  /** counts token refreshes: a newer warning or a lost connection ends an older one */
  #round = 0;

  /**
   * @param {TokenHost} host
   * @param {import('./options.js').SwitchboardOptions} opts
   */
  constructor(host, opts) {
    this.#host = host;
    this.#opts = opts;
  }

  /**
   * Whether the token is the one the last welcome or refresh named and
   * expires within TOKEN_MIN_LIFE.
   * @param {string|undefined} token
   */
  expiresSoon(token) {
    if (!token || token !== this.token || this.expires === null) return false;
    return this.expires * 1000 - Date.now() < TOKEN_MIN_LIFE;
  }

  /**
   * The server warned that the token expires soon: refresh it through
   * getToken. A failure is reported ("refresh_failed") and tried again with
   * backoff until the token expires; a lost connection ends the attempts (the
   * reconnection fetches a token itself), and a token the server refuses is
   * reported as the server said, once.
   * @param {number} expires the token's expiry, unix seconds
   */
  async refreshSoon(expires) {
    const getToken = this.#opts.getToken;
    if (!getToken) return; // the app listens for "token-expiring" and calls refresh()
    clearTimeout(this.#timer);
    const round = ++this.#round;
    const current = () => round === this.#round && this.#host.connected;
    // Without a usable expiry: the server warns a minute ahead.
    const deadline = Number.isFinite(expires) && expires > 0 ? expires * 1000 : Date.now() + 60000;
    const backoff = new Backoff({
      min: this.#opts.tokenRefreshDelay,
      max: Math.max(this.#opts.tokenRefreshDelay, TOKEN_REFRESH_DELAY_MAX),
      jitter: this.#opts.randomizationFactor,
    });
    for (;;) {
      let token;
      try {
        token = await getToken();
      } catch (err) {
        if (!current()) return;
        if (!(await this.#again(backoff, deadline, `getToken failed: ${errorText(err)}`, current))) return;
        continue;
      }
      if (!current()) return;
      try {
        await this.#host.refresh(token);
        return;
      } catch (err) {
        const e = /** @type {any} */ (err);
        if (!current() || e?.code === ClientErrorCode.DISCONNECTED) return;
        if (e instanceof SwitchboardError && e.frame && TOKEN_REFUSALS.has(e.code)) {
          this.#host.emit('error', e);
          return;
        }
        if (!(await this.#again(backoff, deadline, `the refresh failed: ${errorText(err)}`, current))) return;
      }
    }
  }

  /**
   * Reports a failed token refresh and waits for the next attempt. Resolves
   * false when there is to be none: the token expires first, or the
   * connection went meanwhile.
   * @param {Backoff} backoff
   * @param {number} deadline the token's expiry, milliseconds
   * @param {string} why
   * @param {() => boolean} current whether this refresh is still the one to make
   * @returns {Promise<boolean>}
   */
  async #again(backoff, deadline, why, current) {
    const delay = backoff.duration();
    const again = Date.now() + delay < deadline;
    const next = again ? `; trying again in ${Math.ceil(delay / 1000)} s` : '; giving up: the token expires first';
    this.#host.emit('error', new SwitchboardError(ClientErrorCode.REFRESH_FAILED, `refreshing the token: ${why}${next}`));
    if (!again || !current()) return false;
    await new Promise((resolve) => {
      this.#timer = setTimeout(resolve, delay);
    });
    this.#timer = null;
    return current();
  }

  /** A token refresh waiting to try again is over: the next session brings its own token. */
  stop() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#round++;
  }
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

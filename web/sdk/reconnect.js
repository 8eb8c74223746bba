// After a lost connection: what the loss means to the app (lossError), and
// when to try again (Reconnection): bounded exponential backoff, unless a
// draining server said when to come back or a session waits to be resumed.
// No DOM: it runs under Node.

import { Backoff } from './backoff.js';
import { ClientErrorCode, CloseCode, ErrorCode, SwitchboardError } from './protocol.js';

export class Reconnection {
  /** attempts since the last welcome, or connect() */
  attempt = 0;
  /** @type {number|null} the delay of the next attempt, from a reconnect frame */
  hint = null;
  /** @type {any} the next attempt, while it waits */
  timer = null;
  #backoff;

  /** @param {{reconnectionDelay?: number, reconnectionDelayMax?: number, randomizationFactor?: number}} opts */
  constructor(opts) {
    this.#backoff = new Backoff({
      min: opts.reconnectionDelay,
      max: opts.reconnectionDelayMax,
      jitter: opts.randomizationFactor,
    });
  }

  /** Counts afresh: connect(), or a welcome. */
  reset() {
    this.attempt = 0;
    this.#backoff.reset();
  }

  /**
   * Whether the backoff has counted this many attempts.
   * @param {number} limit
   */
  exhausted(limit) {
    return this.#backoff.attempts >= limit;
  }

  /**
   * The delay of the next attempt, in milliseconds; counts one attempt.
   * @param {number|null} grace with a session to resume, the server's grace period for it
   * @returns {number}
   */
  delay(grace) {
    let delay = this.#backoff.duration();
    if (this.hint !== null) {
      // The draining server said when to come back.
      delay = this.hint;
      this.hint = null;
    } else if (grace !== null) {
      // Several attempts within the grace period, whatever the backoff says.
      delay = Math.min(delay, Math.floor(grace / 4));
    }
    return delay;
  }

  /** Drops the attempt that waits, if any. */
  cancel() {
    clearTimeout(this.timer);
    this.timer = null;
  }
}

/**
 * The error a lost connection is reported with ("error" event), if any: the
 * failures the app may need to act on, refused tokens, and connections that
 * never got as far as the welcome.
 * @param {number|null} code close code, null when the client gave up
 * @param {string} closeReason
 * @param {SwitchboardError|null} frameErr the last error frame of the connection
 * @param {boolean} wasConnected whether the welcome had come
 * @param {string} reason what the loss is called (closeInfo's reason, or why the client gave up)
 * @returns {SwitchboardError|null}
 */
export function lossError(code, closeReason, frameErr, wasConnected, reason) {
  let err = null;
  if (code === CloseCode.TAKEN_OVER) {
    err = new SwitchboardError(ClientErrorCode.SESSION_TAKEN_OVER, 'the session was resumed on another connection', { closeCode: code });
  } else if (code === CloseCode.UNAUTHORIZED) {
    const c = frameErr?.code === ErrorCode.TOKEN_EXPIRED ? ErrorCode.TOKEN_EXPIRED : ErrorCode.UNAUTHORIZED;
    err = new SwitchboardError(c, frameErr?.message || closeReason || 'token refused', { closeCode: code });
  } else if (!wasConnected) {
    if (frameErr) err = new SwitchboardError(frameErr.code, frameErr.message, { frame: frameErr.frame, closeCode: code ?? undefined });
    else if (code === CloseCode.ABNORMAL) err = new SwitchboardError(ClientErrorCode.UNREACHABLE, 'cannot reach the server', { closeCode: code });
    else err = new SwitchboardError(ClientErrorCode.UNREACHABLE, `connection closed before welcome: ${closeReason || reason}`, { closeCode: code ?? undefined });
  }
  return err;
}

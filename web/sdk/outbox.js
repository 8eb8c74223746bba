// The signals of one link on their way to the server, one at a time and in
// order: a signal refused for a passing reason (rate_limited, or no reply in
// time) is sent again after a short backoff before the next one goes, so a
// retried answer is never overtaken by its own candidates. No DOM, no
// WebRTC: it runs under Node.

import { Backoff } from './backoff.js';
import { ClientErrorCode, ErrorCode } from './protocol.js';

/**
 * @typedef {object} SignalRetryOptions
 * @property {number} [retries=3] sends again after the first failure before giving up
 * @property {number} [minDelay=250] delay before the first retry, in milliseconds; doubles each time
 * @property {number} [maxDelay=2000] largest delay, in milliseconds
 * @property {number} [jitter=0.5] randomization of the delays, 0 to 1
 * @property {() => number} [random] source of numbers in [0, 1), for tests
 */

/**
 * Whether a failed signal request is worth sending again: the server's rate
 * limit, or no reply in time. Anything else (the peer left, the connection
 * went, a bad frame) would fail again.
 * @param {unknown} err
 */
export function retryable(err) {
  const code = /** @type {any} */ (err)?.code;
  return code === ErrorCode.RATE_LIMITED || code === ClientErrorCode.TIMEOUT;
}

export class SignalOutbox {
  /** @type {object[]} signals not sent yet, the one in flight first */
  #queue = [];
  #busy = false;
  #closed = false;
  #send;
  #onError;
  #retry;
  /** @type {any} */ #timer = null;
  /** @type {(() => void)|null} ends the wait for a retry early (close) */
  #wake = null;

  /**
   * @param {(data: object) => Promise<unknown>} send sends one signal; rejects when it failed
   * @param {(err: unknown) => void} onError a signal is given up: failed for good, or retries spent
   * @param {SignalRetryOptions} [retry]
   */
  constructor(send, onError, retry = {}) {
    this.#send = send;
    this.#onError = onError;
    this.#retry = retry;
  }

  /**
   * Queues a signal behind those not sent yet.
   * @param {object} data
   */
  push(data) {
    if (this.#closed) return;
    this.#queue.push(data);
    if (!this.#busy) this.#drain();
  }

  /** Drops what is queued and stops retrying (the link is closed). */
  close() {
    this.#closed = true;
    this.#queue = [];
    clearTimeout(this.#timer);
    this.#wake?.();
  }

  async #drain() {
    this.#busy = true;
    while (this.#queue.length > 0 && !this.#closed) {
      await this.#deliver(this.#queue[0]);
      this.#queue.shift();
    }
    this.#busy = false;
  }

  /** @param {object} data */
  async #deliver(data) {
    const { retries = 3, minDelay = 250, maxDelay = 2000, jitter = 0.5, random } = this.#retry;
    const backoff = new Backoff({ min: minDelay, max: maxDelay, jitter, random });
    for (;;) {
      try {
        await this.#send(data);
        return;
      } catch (err) {
        if (this.#closed) return;
        if (!retryable(err) || backoff.attempts >= retries) {
          this.#onError(err);
          return;
        }
        await this.#sleep(backoff.duration());
        if (this.#closed) return;
      }
    }
  }

  /** @param {number} ms */
  #sleep(ms) {
    return new Promise((resolve) => {
      this.#wake = () => resolve(undefined);
      this.#timer = setTimeout(resolve, ms);
    }).finally(() => {
      this.#wake = null;
      this.#timer = null;
    });
  }
}

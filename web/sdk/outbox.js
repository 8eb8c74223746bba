// The signals of one link on their way to the server. Up to `window` go out
// without waiting for each other's replies, so trickled candidates do not
// wait a round trip each. A signal refused for a passing reason
// (rate_limited, or no reply in time) is sent again after a short backoff,
// and so is every signal queued after it (go-back-N): the peer then gets
// them in order again, so a retried answer is never overtaken by its own
// candidates. Signals sent twice that way are harmless (a candidate added
// twice, a description the peer already has: PeerLink skips it). While the
// signaling connection is down the outbox holds: what is pushed waits, and
// signals already sent wait for their replies, which a resumed session
// brings (Switchboard sends the unanswered ones again itself, once). No DOM,
// no WebRTC: it runs under Node.

import { Backoff } from './backoff.js';
import { ClientErrorCode, ErrorCode } from './protocol.js';

/**
 * @typedef {object} SignalRetryOptions
 * @property {number} [retries=3] sends again after the first failure before giving up
 * @property {number} [minDelay=250] delay before the first retry, in milliseconds; doubles each time
 * @property {number} [maxDelay=2000] largest delay, in milliseconds
 * @property {number} [jitter=0.5] randomization of the delays, 0 to 1
 * @property {number} [window=16] signals in flight at once
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

/**
 * @typedef {object} Item
 * @property {object} data
 * @property {'queued'|'sending'|'done'} state
 * @property {Backoff} [backoff] set once it failed for a passing reason
 * @property {boolean} [givenUp] failed for good (reported): never sent again
 */

export class SignalOutbox {
  /** @type {Item[]} in order; done ones leave from the front */
  #items = [];
  #inflight = 0;
  /** @type {Item|null} the earliest item refused for a passing reason, while recovering */
  #resendFrom = null;
  #waiting = false;
  #closed = false;
  #held = false;
  #send;
  #onError;
  #retry;
  /** @type {any} */ #timer = null;

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
    this.#items.push({ data, state: 'queued' });
    this.#pump();
  }

  /**
   * Sends nothing new until release(): the connection is down. Signals
   * already sent keep waiting for their replies.
   */
  hold() {
    this.#held = true;
  }

  /** Sends what waited while held, in order. */
  release() {
    if (!this.#held) return;
    this.#held = false;
    this.#pump();
  }

  /** Drops what is queued and stops retrying (the link is closed). */
  close() {
    this.#closed = true;
    this.#items = [];
    clearTimeout(this.#timer);
  }

  #pump() {
    if (this.#closed || this.#held || this.#resendFrom) return;
    const window = this.#retry.window ?? 16;
    for (const item of this.#items) {
      if (this.#inflight >= window) return;
      if (item.state === 'queued') this.#start(item);
    }
  }

  /** @param {Item} item */
  #start(item) {
    item.state = 'sending';
    this.#inflight++;
    let sending;
    try {
      sending = Promise.resolve(this.#send(item.data)); // at once: the request is written now
    } catch (err) {
      sending = Promise.reject(err);
    }
    sending.then(
      () => this.#settled(item, null),
      (err) => this.#settled(item, err ?? new Error('signal failed')),
    );
  }

  /**
   * @param {Item} item
   * @param {unknown} err null when it was sent
   */
  #settled(item, err) {
    this.#inflight--;
    if (this.#closed) return;
    if (err === null || !retryable(err)) {
      item.state = 'done';
      if (err !== null) {
        item.givenUp = true;
        this.#onError(err);
      }
    } else {
      const { retries = 3, minDelay = 250, maxDelay = 2000, jitter = 0.5, random } = this.#retry;
      item.backoff ??= new Backoff({ min: minDelay, max: maxDelay, jitter, random });
      if (item.backoff.attempts >= retries) {
        item.state = 'done';
        item.givenUp = true;
        this.#onError(err);
      } else {
        item.state = 'queued';
        if (!this.#resendFrom || this.#items.indexOf(item) < this.#items.indexOf(this.#resendFrom)) {
          this.#resendFrom = item;
        }
      }
    }
    while (this.#items[0]?.state === 'done') this.#items.shift();
    if (this.#resendFrom) this.#recover();
    else this.#pump();
  }

  /** Once nothing is in flight, waits the backoff, then sends again from the refused signal on. */
  #recover() {
    if (this.#inflight > 0 || this.#waiting) return;
    const from = /** @type {Item} */ (this.#resendFrom);
    this.#waiting = true;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#waiting = false;
      if (this.#closed) return;
      const i = this.#items.indexOf(from);
      for (const item of this.#items.slice(Math.max(i, 0))) if (!item.givenUp) item.state = 'queued';
      this.#resendFrom = null;
      this.#pump();
    }, /** @type {Backoff} */ (from.backoff).duration());
  }
}

/**
 * Requests that must reach the server in order and whose replies matter (an
 * auto room's sfu-join, sfu-leave and mode-ack): a SignalOutbox whose
 * send() resolves with the reply, or rejects when the request failed for
 * good (a passing failure is sent again first).
 */
export class RequestQueue {
  #outbox;

  /**
   * @param {(frame: {type: string, [key: string]: any}) => Promise<any>} request
   * @param {(err: unknown) => void} onError a request is given up
   * @param {SignalRetryOptions} [retry]
   */
  constructor(request, onError, retry) {
    this.#outbox = new SignalOutbox(
      (item) => {
        const { frame, resolve, reject } = /** @type {any} */ (item);
        return request(frame).then(resolve, (err) => {
          if (!retryable(err)) reject(err);
          throw err;
        });
      },
      onError,
      retry,
    );
  }

  /**
   * @param {{type: string, [key: string]: any}} frame
   * @returns {Promise<any>} the reply
   */
  send(frame) {
    return new Promise((resolve, reject) => this.#outbox.push({ frame, resolve, reject }));
  }

  /** The underlying outbox, held and released with the room's others. */
  get outbox() {
    return this.#outbox;
  }
}

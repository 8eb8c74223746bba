// The bookkeeping of ICE restarts on one link: at most one restart in flight,
// a bounded number of attempts, and a growing delay between them. Pure, so it
// can be tested under Node; PeerLink owns the timers and calls restartIce.

import { Backoff } from './backoff.js';

/**
 * @typedef {object} IceRestartOptions
 * @property {number} [maxAttempts=3] restarts after a failure before giving up
 * @property {number} [minDelay=1000] delay before the first restart, in milliseconds
 * @property {number} [maxDelay=8000] largest delay, in milliseconds
 * @property {number} [jitter=0.5] randomization of the delays, 0 to 1
 * @property {number} [timeout=15000] time for a restart to reconnect before it counts as failed
 * @property {number} [connectTimeout=20000] time for a new link to connect before it counts
 *   as failed (a lost offer or answer leaves it "connecting" for ever otherwise)
 * @property {number} [disconnectTimeout=5000] time a link may stay "disconnected" before it
 *   counts as failed (browsers take longer to say "failed" themselves)
 * @property {() => number} [random] source of numbers in [0, 1), for tests
 */

export class IceRestarts {
  /**
   * idle: nothing going on; scheduled: a restart waits for its delay (or for
   * signaling); running: restartIce was called and the link is reconnecting.
   * @type {'idle'|'scheduled'|'running'}
   */
  state = 'idle';
  /** Restarts since the link was last connected. */
  attempts = 0;
  #backoff;

  /** @param {IceRestartOptions} [opts] */
  constructor({
    maxAttempts = 3, minDelay = 1000, maxDelay = 8000, jitter = 0.5, timeout = 15000, connectTimeout = 20000,
    disconnectTimeout = 5000, random,
  } = {}) {
    this.maxAttempts = maxAttempts;
    this.timeout = timeout;
    this.connectTimeout = connectTimeout;
    this.disconnectTimeout = disconnectTimeout;
    this.#backoff = new Backoff({ min: minDelay, max: maxDelay, jitter, random });
  }

  /**
   * The link failed, or the running restart did not reconnect in time.
   * Returns the delay in milliseconds before the next restart, or null when
   * there is to be none: one is already scheduled, or the attempts are spent.
   * @returns {number|null}
   */
  failed() {
    if (this.state === 'scheduled') return null;
    this.state = 'idle';
    if (this.attempts >= this.maxAttempts) return null;
    this.attempts++;
    this.state = 'scheduled';
    return this.#backoff.duration();
  }

  /**
   * The scheduled restart begins (restartIce is called). Returns false when
   * none was scheduled.
   */
  start() {
    if (this.state !== 'scheduled') return false;
    this.state = 'running';
    return true;
  }

  /** The link is connected (again): the next failure starts counting afresh. */
  connected() {
    this.state = 'idle';
    this.attempts = 0;
    this.#backoff.reset();
  }

  /** Whether every attempt was made and none is under way: the link stays failed. */
  get exhausted() {
    return this.state === 'idle' && this.attempts >= this.maxAttempts;
  }
}

// Bounded exponential backoff with jitter, computed the way socket.io-client
// does it: attempt n waits min * factor^n, moved up or down by a random share
// of at most `jitter` of itself, and never more than max.

/**
 * @typedef {object} BackoffOptions
 * @property {number} [min=1000] delay of the first attempt, in milliseconds
 * @property {number} [max=5000] upper bound of every delay, in milliseconds
 * @property {number} [factor=2] growth per attempt
 * @property {number} [jitter=0.5] randomization factor, 0 to 1
 * @property {() => number} [random=Math.random] source of numbers in [0, 1)
 */

export class Backoff {
  /** Attempts since the last reset. */
  attempts = 0;

  /** @param {BackoffOptions} [opts] */
  constructor({ min = 1000, max = 5000, factor = 2, jitter = 0.5, random = Math.random } = {}) {
    if (!(min >= 0) || !(max >= 0)) throw new RangeError('backoff: min and max must be >= 0');
    if (!(factor >= 1)) throw new RangeError('backoff: factor must be >= 1');
    this.min = min;
    this.max = Math.max(min, max);
    this.factor = factor;
    this.jitter = Math.min(Math.max(jitter, 0), 1);
    this.random = random;
  }

  /**
   * The delay before the next attempt, in whole milliseconds. Each call counts
   * one attempt.
   * @returns {number}
   */
  duration() {
    // Cap the base so that many attempts never overflow to Infinity (and the
    // jitter to NaN); the result is capped at max below anyway.
    let ms = Math.min(this.min * this.factor ** this.attempts, Number.MAX_SAFE_INTEGER);
    this.attempts++;
    if (this.jitter > 0) {
      const rand = this.random();
      const deviation = Math.floor(rand * this.jitter * ms);
      // One random number decides both the size and, through one of its
      // decimal digits, the sign of the deviation, as socket.io-client does.
      ms = (Math.floor(rand * 10) & 1) === 0 ? ms - deviation : ms + deviation;
    }
    return Math.floor(Math.max(0, Math.min(ms, this.max)));
  }

  /** Starts counting attempts from zero again. */
  reset() {
    this.attempts = 0;
  }
}

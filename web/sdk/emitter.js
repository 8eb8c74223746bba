// A minimal event emitter shared by Switchboard and Room.
//
// A listener that throws does not stop the others: the error is reported with
// reportError (browsers) or console.error (elsewhere) and the loop goes on.

/** @typedef {(...args: any[]) => void} Listener */

export class Emitter {
  /** @type {Map<string, Listener[]>} */
  #listeners = new Map();

  /**
   * Adds a listener for an event.
   * @param {string} event
   * @param {Listener} fn
   * @returns {this}
   */
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    const list = this.#listeners.get(event) ?? [];
    this.#listeners.set(event, [...list, fn]);
    return this;
  }

  /**
   * Adds a listener that runs at most once.
   * @param {string} event
   * @param {Listener} fn
   * @returns {this}
   */
  once(event, fn) {
    const wrapper = (/** @type {any[]} */ ...args) => {
      this.off(event, wrapper);
      fn.apply(this, args);
    };
    wrapper.listener = fn;
    return this.on(event, wrapper);
  }

  /**
   * Removes a listener; without fn every listener of the event; without
   * arguments every listener.
   * @param {string} [event]
   * @param {Listener} [fn]
   * @returns {this}
   */
  off(event, fn) {
    if (event === undefined) {
      this.#listeners.clear();
      return this;
    }
    if (fn === undefined) {
      this.#listeners.delete(event);
      return this;
    }
    const list = this.#listeners.get(event);
    if (!list) return this;
    const rest = list.filter((l) => l !== fn && /** @type {any} */ (l).listener !== fn);
    if (rest.length) this.#listeners.set(event, rest);
    else this.#listeners.delete(event);
    return this;
  }

  /**
   * The number of listeners of an event.
   * @param {string} event
   */
  listenerCount(event) {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /**
   * Calls every listener of the event with the arguments, in the order they
   * were added. Reports whether there was any listener.
   * @param {string} event
   * @param {...any} args
   * @returns {boolean}
   */
  emit(event, ...args) {
    const list = this.#listeners.get(event);
    if (!list) return false;
    for (const fn of list) {
      try {
        fn.apply(this, args);
      } catch (err) {
        report(err);
      }
    }
    return true;
  }
}

/** @param {unknown} err */
function report(err) {
  const g = /** @type {any} */ (globalThis);
  if (typeof g.reportError === 'function') g.reportError(err);
  else console.error(err);
}

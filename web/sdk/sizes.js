// How large the app shows each peer's video, for the SFU to pick a layer:
// SizeWatch follows the video elements the app registers (room.observe)
// through a ResizeObserver, SizeReporter throttles what goes to the server
// per track. Both run under Node with a fake ResizeObserver.

/** Least time between two size messages of one track, in milliseconds (2/s). */
export const SIZE_INTERVAL = 500;

/**
 * @typedef {{width: number, height: number}} Size CSS pixels; 0x0 = not shown
 */

/**
 * Sends the latest size of each track, at most once per interval: the first
 * change at once, later ones within the interval as one message at its end.
 * A size equal to the last one sent is not sent again.
 */
export class SizeReporter {
  /** @type {Map<string, {sent: Size|null, at: number, want: Size, timer: any}>} */
  #tracks = new Map();
  #send;
  #interval;

  /**
   * @param {(track: string, width: number, height: number) => void} send
   * @param {number} [interval]
   */
  constructor(send, interval = SIZE_INTERVAL) {
    this.#send = send;
    this.#interval = interval;
  }

  /**
   * @param {string} track
   * @param {number} width
   * @param {number} height
   */
  set(track, width, height) {
    let t = this.#tracks.get(track);
    if (!t) {
      t = { sent: null, at: -Infinity, want: { width, height }, timer: null };
      this.#tracks.set(track, t);
    }
    t.want = { width, height };
    if (t.timer !== null) return;
    const wait = t.at + this.#interval - Date.now();
    if (wait <= 0) this.#flush(track, t);
    else t.timer = setTimeout(() => this.#flush(track, /** @type {any} */ (t)), wait);
  }

  /** @param {string} track gone: nothing more is sent for it */
  forget(track) {
    clearTimeout(this.#tracks.get(track)?.timer);
    this.#tracks.delete(track);
  }

  close() {
    for (const t of this.#tracks.values()) clearTimeout(t.timer);
    this.#tracks.clear();
  }

  /**
   * @param {string} track
   * @param {{sent: Size|null, at: number, want: Size, timer: any}} t
   */
  #flush(track, t) {
    t.timer = null;
    if (this.#tracks.get(track) !== t) return;
    const { width, height } = t.want;
    if (t.sent && t.sent.width === width && t.sent.height === height) return;
    t.sent = { width, height };
    t.at = Date.now();
    this.#send(track, width, height);
  }
}

/**
 * The size at which each peer's video is shown: the largest of the elements
 * registered for it (content box, CSS pixels, rounded), 0x0 when they are
 * hidden (display: none), removed from the document or unregistered.
 */
export class SizeWatch {
  /** @type {Map<Element, {peer: string, width: number, height: number}>} */
  #elements = new Map();
  /** @type {ResizeObserver|null} */
  #observer = null;
  #onSize;
  #RO;

  /**
   * @param {(peer: string, width: number, height: number) => void} onSize
   *   a peer's size changed (or an element was registered)
   * @param {typeof ResizeObserver} [RO] the constructor; without one sizes are never measured
   */
  constructor(onSize, RO = globalThis.ResizeObserver) {
    this.#onSize = onSize;
    this.#RO = RO;
  }

  /**
   * Follows the size of an element showing a peer's video.
   * @param {string} peer
   * @param {Element} element
   * @returns {() => void} stops following it
   */
  observe(peer, element) {
    const before = this.#elements.get(element);
    const el = /** @type {any} */ (element);
    const shown = el.isConnected !== false;
    this.#elements.set(element, {
      peer,
      width: shown ? Math.round(el.clientWidth ?? 0) : 0,
      height: shown ? Math.round(el.clientHeight ?? 0) : 0,
    });
    if (typeof this.#RO === 'function') {
      this.#observer ??= new this.#RO((entries) => {
        for (const e of entries) this.#measured(e.target, e.contentRect);
      });
      this.#observer.observe(element);
    }
    if (before && before.peer !== peer) this.#report(before.peer);
    this.#report(peer);
    return () => this.unobserve(element);
  }

  /** @param {Element} element */
  unobserve(element) {
    const e = this.#elements.get(element);
    if (!e) return;
    this.#elements.delete(element);
    this.#observer?.unobserve(element);
    this.#report(e.peer);
  }

  /**
   * The current size of every peer with a registered element.
   * @returns {Map<string, Size>}
   */
  sizes() {
    /** @type {Map<string, Size>} */
    const out = new Map();
    for (const e of this.#elements.values()) {
      const s = out.get(e.peer) ?? { width: 0, height: 0 };
      out.set(e.peer, { width: Math.max(s.width, e.width), height: Math.max(s.height, e.height) });
    }
    return out;
  }

  close() {
    this.#observer?.disconnect();
    this.#observer = null;
    this.#elements.clear();
  }

  /**
   * @param {Element} element
   * @param {{width: number, height: number}} rect
   */
  #measured(element, rect) {
    const e = this.#elements.get(element);
    if (!e) return;
    const shown = /** @type {any} */ (element).isConnected !== false;
    const width = shown ? Math.round(rect.width) : 0;
    const height = shown ? Math.round(rect.height) : 0;
    if (width === e.width && height === e.height) return;
    e.width = width;
    e.height = height;
    this.#report(e.peer);
  }

  /** @param {string} peer */
  #report(peer) {
    const s = this.sizes().get(peer) ?? { width: 0, height: 0 };
    this.#onSize(peer, s.width, s.height);
  }
}

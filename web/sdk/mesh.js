// The mesh links of a room: one PeerLink per other peer, each with the
// outbox its signals leave through. The room decides when a link is made
// or closed and what its events mean; this only keeps them together, so
// that a link and its outbox are always made and dropped as one.

import { SignalOutbox } from './outbox.js';

/**
 * @typedef {import('./room.js').LinkLike} LinkLike
 * @typedef {import('./peer.js').PeerLinkOptions} PeerLinkOptions
 *
 * @typedef {object} MeshOptions
 * @property {(opts: PeerLinkOptions) => LinkLike} create makes a link
 * @property {(peer: string, data: object) => Promise<unknown>} signal sends one signal to a peer
 * @property {(err: unknown) => void} onSignalError a signal is given up
 * @property {import('./outbox.js').SignalRetryOptions} [retry]
 */

export class MeshLinks {
  /** @type {Map<string, LinkLike>} */
  #links = new Map();
  /** @type {Map<string, SignalOutbox>} the signals of each link, by peer id */
  #outboxes = new Map();
  #opts;

  /** @param {MeshOptions} opts */
  constructor(opts) {
    this.#opts = opts;
  }

  /**
   * @param {string} peer
   * @returns {LinkLike|undefined}
   */
  get(peer) {
    return this.#links.get(peer);
  }

  /** The peers linked. */
  keys() {
    return this.#links.keys();
  }

  /** The links. */
  values() {
    return this.#links.values();
  }

  /** The links' outboxes. */
  outboxes() {
    return [...this.#outboxes.values()];
  }

  /**
   * Makes the link to a peer (closing one there was), its signals going
   * through an outbox of its own; throws what the factory throws.
   * @param {string} peer
   * @param {boolean} held whether its signals wait (the connection is down, or a replay runs)
   * @param {(current: () => boolean) => Omit<PeerLinkOptions, 'signal'>} options
   *   the link's options; current() says whether the link is still the peer's
   * @returns {LinkLike}
   */
  open(peer, held, options) {
    this.close(peer);
    const outbox = new SignalOutbox((data) => this.#opts.signal(peer, data), this.#opts.onSignalError, this.#opts.retry);
    if (held) outbox.hold();
    /** @type {LinkLike|undefined} */
    let link;
    try {
      link = this.#opts.create({
        ...options(() => link !== undefined && this.#links.get(peer) === link),
        // Kept while the connection is down (the outbox holds): a resumed
        // session sends them; a new one closes this link and its outbox.
        signal: (data) => outbox.push(data),
      });
    } catch (err) {
      outbox.close();
      throw err;
    }
    this.#links.set(peer, link);
    this.#outboxes.set(peer, outbox);
    return link;
  }

  /**
   * Closes the link to a peer and drops its unsent signals.
   * @param {string} peer
   */
  close(peer) {
    this.#links.get(peer)?.close();
    this.#links.delete(peer);
    this.#outboxes.get(peer)?.close();
    this.#outboxes.delete(peer);
  }

  /** Closes every link. */
  closeAll() {
    for (const peer of [...this.#links.keys(), ...this.#outboxes.keys()]) this.close(peer);
  }
}

// The SFU link of a room (sfu rooms, and auto rooms while they use the SFU)
// with the outbox its messages leave through, and the SFU messages that came
// before it was made (the server may speak before the join's reply). The
// room decides when the link is made or closed and what its events mean;
// this keeps the link and its outbox together, as mesh.js does for the
// mesh links.

import { SignalOutbox } from './outbox.js';

/** SFU messages kept when they come before the join's reply (the link is made then). */
export const MAX_EARLY_SFU = 64;

/**
 * @typedef {import('./sfu.js').SfuLink} SfuLink
 * @typedef {import('./sfu.js').SfuLinkOptions} SfuLinkOptions
 *
 * @typedef {object} SfuSlotOptions
 * @property {(opts: SfuLinkOptions) => SfuLink} create makes the link
 * @property {(data: object) => Promise<unknown>} send sends one SFU message (an sfu frame)
 * @property {(err: unknown) => void} onSignalError a message is given up
 * @property {import('./outbox.js').SignalRetryOptions} [retry]
 */

export class SfuSlot {
  /** @type {SfuLink|null} */
  link = null;
  /** @type {SignalOutbox|null} the link's messages */
  outbox = null;
  /** @type {unknown[]} */
  #early = [];
  #opts;

  /** @param {SfuSlotOptions} opts */
  constructor(opts) {
    this.#opts = opts;
  }

  /**
   * Keeps an SFU message that came before the link (at most MAX_EARLY_SFU).
   * @param {unknown} msg
   */
  keep(msg) {
    if (this.#early.length < MAX_EARLY_SFU) this.#early.push(msg);
  }

  /** Drops the messages kept. */
  forgetEarly() {
    this.#early = [];
  }

  /**
   * Makes the link (after closing one there was); throws what the factory
   * throws.
   * @param {boolean} held whether its messages wait (the connection is down)
   * @param {Promise<unknown>|undefined} admitted an auto room's sfu-join: the messages wait for its ack
   * @param {(current: () => boolean) => Omit<SfuLinkOptions, 'send'>} options
   *   the link's options; current() says whether the link is still the room's
   * @returns {SfuLink}
   */
  open(held, admitted, options) {
    this.close();
    const send = this.#opts.send;
    const outbox = new SignalOutbox(
      admitted ? (data) => admitted.then(() => send(data)) : send,
      this.#opts.onSignalError,
      this.#opts.retry,
    );
    if (held) outbox.hold();
    /** @type {SfuLink|undefined} */
    let link;
    try {
      link = this.#opts.create({
        ...options(() => link !== undefined && this.link === link),
        send: (data) => outbox.push(data),
      });
    } catch (err) {
      outbox.close();
      throw err;
    }
    this.link = link;
    this.outbox = outbox;
    return link;
  }

  /** Hands the link what the server sent before it was made. */
  flushEarly() {
    for (const msg of this.#early.splice(0)) this.link?.handle(msg);
  }

  /** Closes the link and drops its unsent messages. */
  close() {
    this.link?.close();
    this.link = null;
    this.outbox?.close();
    this.outbox = null;
  }
}

// Broadcasts a room keeps while the signaling connection is down, to send,
// in order, once the room is joined again. A bounded queue, so an app that
// keeps sending while the server is away learns it. No DOM: it runs under
// Node.

import { ClientErrorCode, SwitchboardError } from './protocol.js';

/** Broadcasts a room keeps while the connection is down, to send once it is back. */
export const MAX_OFFLINE_BROADCASTS = 100;

export class OfflineBroadcasts {
  /** @type {{data: unknown, resolve: (v: any) => void, reject: (e: Error) => void}[]} */
  #waiting = [];

  /**
   * Keeps a broadcast; settles when it was sent after all (or never).
   * Rejects with queue_full at once when MAX_OFFLINE_BROADCASTS wait.
   * @param {unknown} data
   * @returns {Promise<void>}
   */
  wait(data) {
    if (this.#waiting.length >= MAX_OFFLINE_BROADCASTS) {
      return Promise.reject(
        new SwitchboardError(ClientErrorCode.QUEUE_FULL, `${MAX_OFFLINE_BROADCASTS} broadcasts already wait for the connection`),
      );
    }
    return new Promise((resolve, reject) => this.#waiting.push({ data, resolve, reject }));
  }

  /**
   * Sends what waits, in order.
   * @param {(data: unknown) => Promise<unknown>} send
   */
  flush(send) {
    for (const { data, resolve, reject } of this.#waiting.splice(0)) send(data).then(resolve, reject);
  }

  /**
   * Gives up on what waits.
   * @param {Error} err
   */
  reject(err) {
    for (const { reject } of this.#waiting.splice(0)) reject(err);
  }
}

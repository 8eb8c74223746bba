// Sending a room's data to its peers (Room.send and sendTo): encoded once
// (encodeData), then on the path each peer is on: an auto room's numbered
// envelopes (auto.js), the SFU's relay in an sfu room, or each mesh link's
// data channel. Nothing is thrown: data that cannot be sent is a
// "send_failed" error event of the room.

import { SwitchboardError } from './protocol.js';
import { encodeData } from './peer.js';

/**
 * @typedef {import('./auto.js').AutoRoom} AutoRoom
 * @typedef {import('./sfu.js').SfuLink} SfuLink
 *
 * @typedef {object} SendPaths what sending needs from its room
 * @property {() => AutoRoom|null} auto an auto room's switching, null in mesh and sfu rooms
 * @property {() => SfuLink|null} sfu the SFU link, if there is one
 * @property {import('./mesh.js').MeshLinks} links the mesh links
 * @property {Map<string, unknown>} peers the room's peers
 * @property {(err: Error) => void} error reports an error event
 */

export class RoomSender {
  #paths;

  /** @param {SendPaths} paths */
  constructor(paths) {
    this.#paths = paths;
  }

  get #auto() {
    return this.#paths.auto();
  }

  get #sfu() {
    return this.#paths.sfu();
  }

  get #links() {
    return this.#paths.links;
  }

  get #peers() {
    return this.#paths.peers;
  }

  /**
   * See Room.send.
   * @param {unknown} data
   * @param {{reliable?: boolean}} [opts]
   * @returns {number} the number of peers it was sent to
   */
  send(data, opts) {
    const message = this.#encode(data);
    if (message === null) return 0;
    if (this.#auto) return this.#sendAuto(() => /** @type {AutoRoom} */ (this.#auto).send(message, opts?.reliable !== false), 0);
    if (this.#sfu) return this.#sendSfu(message, null, opts) ? this.#peers.size : 0;
    let sent = 0;
    for (const peer of this.#links.keys()) if (this.#sendOn(peer, message, opts)) sent++;
    return sent;
  }

  /**
   * See Room.sendTo.
   * @param {string} peer
   * @param {unknown} data
   * @param {{reliable?: boolean}} [opts]
   */
  sendTo(peer, data, opts) {
    const message = this.#encode(data);
    if (message === null) return false;
    if (this.#auto) {
      if (!this.#peers.has(peer)) return false;
      return this.#sendAuto(() => /** @type {AutoRoom} */ (this.#auto).sendTo(peer, message, opts?.reliable !== false), false);
    }
    if (this.#sfu) return this.#peers.has(peer) && this.#sendSfu(message, peer, opts);
    return this.#sendOn(peer, message, opts);
  }

  /**
   * Sends in an auto room (numbered envelopes, each peer on its path).
   * @template T
   * @param {() => T} sending
   * @param {T} failed what it returns when sending throws
   * @returns {T}
   */
  #sendAuto(sending, failed) {
    try {
      return sending();
    } catch (err) {
      this.#error(new SwitchboardError('send_failed', `cannot send: ${errorText(err)}`));
      return failed;
    }
  }

  /**
   * @param {string|ArrayBuffer|ArrayBufferView|Blob} message
   * @param {string|null} to
   * @param {{reliable?: boolean}} [opts]
   */
  #sendSfu(message, to, opts) {
    try {
      return /** @type {SfuLink} */ (this.#sfu).sendRaw(message, to, opts);
    } catch (err) {
      this.#error(new SwitchboardError('send_failed', `sending through the SFU: ${errorText(err)}`));
      return false;
    }
  }

  /**
   * Encodes data for the data channels once; null (and a "send_failed"
   * error event) when it cannot be.
   * @param {unknown} data
   */
  #encode(data) {
    try {
      return encodeData(data);
    } catch (err) {
      this.#error(new SwitchboardError('send_failed', `cannot send: ${errorText(err)}`));
      return null;
    }
  }

  /**
   * @param {string} peer
   * @param {string|ArrayBuffer|ArrayBufferView|Blob} message
   * @param {{reliable?: boolean}} [opts]
   */
  #sendOn(peer, message, opts) {
    const link = this.#links.get(peer);
    if (!link) return false;
    try {
      return link.sendRaw(message, opts);
    } catch (err) {
      this.#error(new SwitchboardError('send_failed', `sending to ${peer}: ${errorText(err)}`));
      return false;
    }
  }

  /** @param {Error} err */
  #error(err) {
    this.#paths.error(err);
  }
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

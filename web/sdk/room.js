// A room seen from one peer: who else is in it, and either a full mesh of
// WebRTC links to them ("mesh" rooms) or one link to the server's SFU
// ("sfu" rooms, sfu.js), as the joined frame says; "auto" rooms switch
// between the two when the server says so (auto.js). Membership comes from
// the server (joined, peer-joined, peer-left); each pair's link negotiates
// through signal frames, the SFU link through sfu frames.
//
// This file is the app's side of a room: its API, public state and events.
// Joins, members and the room's frames are in roomsession.js, the links to
// the peers in roomlinks.js, sending data in sending.js.

import { Emitter } from './emitter.js';
import { ClientErrorCode, ErrorCode, SwitchboardError, broadcast, leave } from './protocol.js';
import { RoomSession } from './roomsession.js';
import { RoomSender } from './sending.js';
import { QUALITIES } from './sfu.js';
import { SizeWatch } from './sizes.js';

export { MAX_OFFLINE_BROADCASTS } from './broadcasts.js';

/**
 * @typedef {import('./peer.js').PeerState} PeerState
 * @typedef {import('./sfu.js').SfuLink} SfuLink
 * @typedef {import('./stats.js').ConnectionType} ConnectionType
 * @typedef {import('./stats.js').PeerStats} PeerStats
 *
 * @typedef {object} PeerInfo
 * @property {string} peer the peer's id, assigned by the server per session
 * @property {string} [user] the user id from the peer's token
 * @property {string} [name] the display name from the peer's token
 * @property {PeerState} state the state of the link to the peer
 * @property {ConnectionType|'sfu'|null} connectionType whether the link's selected
 *   ICE candidate pair is direct or goes through a TURN relay, null until a
 *   pair is selected; "sfu" for every peer of an sfu room (reached through the server)
 *
 * @typedef {object} RoomHost what a room needs from its Switchboard
 * @property {string|null} id own peer id in the current session
 * @property {RTCIceServer[]} iceServers
 * @property {boolean} connected
 * @property {(frame: {type: string, [key: string]: any}, opts?: {timeout?: number}) => Promise<any>} request
 *
 * @typedef {object} LinkLike what a room needs from a link (PeerLink)
 * @property {PeerState} state
 * @property {RTCPeerConnection} pc
 * @property {MediaStream} [remoteStream]
 * @property {ConnectionType|null} [connectionType]
 * @property {(data: any) => void} handleSignal
 * @property {(message: string|ArrayBuffer|ArrayBufferView|Blob, opts?: {reliable?: boolean}) => boolean} sendRaw
 *   sends a message made by encodeData; false when the channel is not open
 * @property {(stream: MediaStream|null) => void} [publish]
 * @property {() => Promise<PeerStats|null>} [getStats]
 * @property {(list: RTCIceServer[]) => void} [setIceServers]
 * @property {() => void} [resume]
 * @property {() => void} close
 *
 * @typedef {(opts: import('./peer.js').PeerLinkOptions) => LinkLike} LinkFactory
 * @typedef {(opts: import('./sfu.js').SfuLinkOptions) => SfuLink} SfuFactory
 *
 * @typedef {object} RoomHooks how Switchboard.join makes a room
 * @property {() => void} forget the room is closed: drop it
 * @property {LinkFactory} [createLink]
 * @property {SfuFactory} [createSfu]
 * @property {import('./outbox.js').SignalRetryOptions} [signalRetry] how refused signals are sent again, for tests
 * @property {typeof MediaStream} [MediaStream] constructor of an auto room's peer streams
 * @property {import('./auto.js').AutoOptions} [auto] an auto room's probes and deadlines, for tests
 */

export class Room extends Emitter {
  /**
   * The other peers in the room, by peer id. Peers already there when the
   * join completes are in it from the start; later ones arrive with
   * "peer-joined".
   * @type {Map<string, PeerInfo>}
   */
  peers = new Map();
  /** Whether the room is joined in the current session. */
  joined = false;
  /**
   * How the room's media and data travel: "mesh" (peer to peer) or "sfu"
   * (through the server), from the last join; in an auto room, the mode of
   * the last switch this client finished (the "mode" event).
   * @type {'mesh'|'sfu'}
   */
  mode = 'mesh';
  /** @type {string[]} the active speakers of an sfu room, loudest first (the last "speakers") */
  speakers = [];

  /** joins, members, frames and links: the room within the signaling session */
  #session;
  /** sends the app's data on each peer's path */
  #sender;

  /**
   * Rooms are made by Switchboard.join; do not call this yourself.
   * @param {RoomHost} host
   * @param {string} name
   * @param {string|undefined} ns
   * @param {RoomHooks} hooks
   */
  constructor(host, name, ns, hooks) {
    super();
    this.name = name;
    this.ns = ns;
    this.#session = new RoomSession(this, host, name, ns, hooks);
    this.#sender = new RoomSender({
      auto: () => this.#session.links.auto,
      sfu: () => this.#session.links.sfu,
      links: this.#session.links.mesh,
      peers: this.peers,
      error: (err) => this.#session.error(err),
    });
  }

  /** Own peer id in this room. */
  get self() {
    return this.#session.selfId;
  }

  /**
   * Whether the server runs the room in mode auto: a mesh that moves to the
   * SFU when it grows and back when it shrinks ("mode" events).
   */
  get auto() {
    return this.#session.links.auto !== null;
  }

  /** What publish() was last given; null before or after unpublish(). */
  get localStream() {
    return this.#session.localStream;
  }

  /**
   * Sends data to every peer whose data channel is open. Text-like data
   * travels as JSON, ArrayBuffers and typed arrays as binary. By default on
   * the reliable, ordered channel; {reliable: false} uses the unordered
   * channel without retransmissions (peers whose unreliable channel is not
   * open do not get it). Nothing is thrown: data that cannot be sent (such as
   * undefined or a function) and a channel that refuses the message (its
   * buffer is full, the message too large) give a "send_failed" error event.
   * In an sfu room the server relays it: the number is that of the other
   * peers in the room when the channel to the server is open, else 0.
   * @param {unknown} data
   * @param {{reliable?: boolean}} [opts]
   * @returns {number} the number of peers it was sent to
   */
  send(data, opts) {
    return this.#sender.send(data, opts);
  }

  /**
   * Sends data to one peer. Returns false when its data channel (the
   * reliable one, or with {reliable: false} the unreliable one) is not open,
   * or when sending failed ("send_failed" error event, as for send).
   * @param {string} peer
   * @param {unknown} data
   * @param {{reliable?: boolean}} [opts]
   */
  sendTo(peer, data, opts) {
    return this.#sender.sendTo(peer, data, opts);
  }

  /**
   * Sends every track of a stream to every peer in the room, now and to
   * peers that join later, and after a reconnection. Calling it again with
   * another stream (or the same one with other tracks) replaces what is sent.
   * The app owns the tracks: the SDK never stops them.
   * @param {MediaStream} stream
   */
  publish(stream) {
    if (!stream || typeof (/** @type {any} */ (stream).getTracks) !== 'function') {
      throw new SwitchboardError(ErrorCode.BAD_REQUEST, 'publish needs a MediaStream');
    }
    this.#session.localStream = stream;
    if (this.#session.left) return;
    for (const link of this.#session.links.mesh.values()) link.publish?.(stream);
    this.#session.links.sfu?.publish(stream);
  }

  /** Stops sending media to every peer. */
  unpublish() {
    this.#session.localStream = null;
    for (const link of this.#session.links.mesh.values()) link.publish?.(null);
    this.#session.links.sfu?.publish(null);
  }

  /**
   * Chooses the layer of a peer's video in an sfu room: "low", "medium",
   * "high", or "auto" (the server picks from bandwidth and the size shown).
   * Kept for the peer while it is in the room, and sent again after a
   * reconnection. Does nothing in a mesh room.
   * @param {string} peer
   * @param {'low'|'medium'|'high'|'auto'} quality
   */
  setQuality(peer, quality) {
    if (!QUALITIES.includes(quality)) {
      throw new SwitchboardError(ErrorCode.BAD_REQUEST, `quality must be one of ${QUALITIES.join(', ')}`);
    }
    if (quality === 'auto') this.#session.quality.delete(peer);
    else this.#session.quality.set(peer, quality);
    this.#session.links.sfu?.setQuality(peer, quality);
  }

  /**
   * Tells the SFU how large a peer's video is shown, so that it sends a
   * layer that fits (and nothing while it is not shown): follows the
   * element's size (ResizeObserver), 0x0 when it is hidden or removed. In a
   * mesh room it is only remembered, for a later sfu mode.
   * @param {string} peer
   * @param {Element} element usually the <video> showing room.remoteStream(peer)
   * @returns {() => void} stops following the element (its peer counts as not shown by it)
   */
  observe(peer, element) {
    this.#session.sizes ??= new SizeWatch((p, w, h) => this.#session.links.sfu?.setSize(p, w, h));
    return this.#session.sizes.observe(peer, element);
  }

  /**
   * The remote tracks of a peer: one MediaStream for the life of the link to
   * it, to which its tracks are added and from which they are removed.
   * @param {string} peer
   * @returns {MediaStream|undefined} undefined when there is no link to the peer
   */
  remoteStream(peer) {
    if (this.#session.links.auto) return this.peers.has(peer) ? this.#session.links.auto.streams.stream(peer) : undefined;
    if (this.#session.links.sfu) return this.peers.has(peer) ? this.#session.links.sfu.remoteStream(peer) : undefined;
    return this.#session.links.mesh.get(peer)?.remoteStream;
  }

  /**
   * Statistics of the link to a peer: the selected candidate pair, round
   * trip, byte totals, inbound video and audio, and bitrates since the
   * previous getStats of the same peer.
   * @param {string} peer
   * @returns {Promise<PeerStats|null>} null when there is no link to the peer
   */
  async getStats(peer) {
    if (this.#session.links.auto) return this.peers.has(peer) ? this.#session.links.auto.getStats(peer) : null;
    if (this.#session.links.sfu) return this.peers.has(peer) ? this.#session.links.sfu.getStats(peer) : null;
    const link = this.#session.links.mesh.get(peer);
    if (!link?.getStats) return null;
    return link.getStats();
  }

  /**
   * Sends data to every other peer through the server (no data channel
   * needed). They get it as a "broadcast" event.
   * @param {unknown} data
   * @returns {Promise<void>}
   */
  async broadcast(data) {
    if (this.#session.left) throw new SwitchboardError('left', 'left the room');
    if (this.joined && this.#session.host.connected) {
      await this.#session.host.request(broadcast(this.name, this.ns, data));
      return;
    }
    // Offline (or rejoining): kept, in order, and sent once the room is
    // joined again.
    await this.#session.offline.wait(data);
  }

  /**
   * The RTCPeerConnection to a peer, for what the room does not cover; in an
   * sfu room the one every peer's media and data come through (the server's
   * "sub" connection).
   * @param {string} peer
   * @returns {RTCPeerConnection|undefined}
   */
  getConnection(peer) {
    if (this.#session.links.auto) return this.peers.has(peer) ? this.#session.links.auto.connection(peer) : undefined;
    if (this.#session.links.sfu) return this.peers.has(peer) ? this.#session.links.sfu.sub : undefined;
    return this.#session.links.mesh.get(peer)?.pc;
  }

  /**
   * In an sfu room, the RTCPeerConnection this side publishes on (the
   * server's "pub" connection), for its senders and their stats; undefined
   * before the first publish and in a mesh room.
   * @returns {RTCPeerConnection|undefined}
   */
  getPublishConnection() {
    return this.#session.links.sfu?.pub ?? undefined;
  }

  /** Leaves the room and closes every link of it. */
  async leave() {
    if (this.#session.left) return;
    const wasJoined = this.joined;
    this.#session.shutdown(new SwitchboardError('left', 'left the room'));
    if (!wasJoined || !this.#session.host.connected) return;
    try {
      await this.#session.host.request(leave(this.name, this.ns));
    } catch (err) {
      if (/** @type {any} */ (err).code !== ClientErrorCode.DISCONNECTED) throw err;
    }
  }

  /** @internal Whether the first join is over (done or failed). */
  get _joinedOnce() {
    return this.#session.ready.done;
  }

  /** @internal Resolves with the room after the first successful join. */
  _ready() {
    return this.#session.ready.promise;
  }

  /**
   * @internal Joins in the current session; Switchboard calls it after every
   * welcome of a new session, and after a resumed one for rooms that were
   * not joined yet.
   */
  _join() {
    return this.#session.join();
  }

  /** @internal The connection dropped (RoomSession.disconnected). */
  _disconnected() {
    this.#session.disconnected();
  }

  /** @internal The session was resumed and what it missed is replayed (RoomSession.resumed). */
  _resumed() {
    this.#session.resumed();
  }

  /**
   * @internal The Switchboard gave up or was closed: close everything.
   * @param {Error} err why
   */
  _close(err) {
    this.#session.close(err);
  }

  /**
   * @internal New ICE servers (fresh TURN credentials) for the links to every peer.
   * @param {RTCIceServer[]} list
   */
  _iceServers(list) {
    this.#session.iceServers(list);
  }

  /**
   * @internal A frame for this room.
   * @param {{type: string, [key: string]: any}} frame
   */
  _handle(frame) {
    this.#session.handle(frame);
  }
}

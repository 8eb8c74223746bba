// A room seen from one peer: who else is in it, and either a full mesh of
// WebRTC links to them ("mesh" rooms) or one link to the server's SFU
// ("sfu" rooms, sfu.js), as the joined frame says; "auto" rooms switch
// between the two when the server says so (auto.js). Membership comes from
// the server (joined, peer-joined, peer-left); each pair's link negotiates
// through signal frames, the SFU link through sfu frames.

import { Emitter } from './emitter.js';
import { ClientErrorCode, ErrorCode, SwitchboardError, broadcast, join, leave, sfu, signal } from './protocol.js';
import { RequestQueue } from './outbox.js';
import { AutoRoom } from './auto.js';
import { OfflineBroadcasts } from './broadcasts.js';
import { MeshLinks } from './mesh.js';
import { SfuSlot } from './sfuslot.js';
import { DirectRoutes } from './routes.js';
import { PeerLink } from './peer.js';
import { RoomSender } from './sending.js';
import { QUALITIES, SfuLink } from './sfu.js';
import { SizeWatch } from './sizes.js';

export { MAX_OFFLINE_BROADCASTS } from './broadcasts.js';

/**
 * @typedef {import('./peer.js').PeerState} PeerState
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

  #host;
  #forget;
  /** the mesh links, by peer id */
  #links;
  /** @type {import('./outbox.js').SignalRetryOptions|undefined} */
  #signalRetry;
  /** @type {{timer: any, info: {rejoin: boolean, sameSession: boolean}}|null} the first "joined", due in a moment */
  #firstJoined = null;
  /** @type {string|null} own peer id the links were made with */
  #selfId = null;
  #left = false;
  /** joined when the connection dropped: a resumed session is still in the room on the server */
  #suspended = false;
  /** join requests under way */
  #joining = 0;
  /** broadcasts made while offline */
  #offline = new OfflineBroadcasts();
  /** joins completed, the first one included */
  #joins = 0;
  /** @type {MediaStream|null} */
  #localStream = null;
  /** @type {{promise: Promise<Room>, resolve: (r: Room) => void, reject: (e: Error) => void, done: boolean}} */
  #ready;
  /** the SFU link of an sfu room (or of an auto room using the SFU) */
  #slot;
  /** @type {SizeWatch|null} the video elements the app registered (observe) */
  #sizes = null;
  /** @type {Map<string, string>} setQuality choices other than auto, by peer */
  #quality = new Map();
  /** @type {AutoRoom|null} what an auto room adds; null in mesh and sfu rooms */
  #auto = null;
  /** @type {import('./routes.js').Routes} where link events go: the auto room's, or straight to the room's events */
  #routes;
  #direct;
  /** @type {RequestQueue|null} an auto room's sfu-join, sfu-leave and mode-ack frames */
  #controls = null;
  /** @type {RoomHooks} */
  #hooks;
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
    const { forget, createLink, createSfu, signalRetry } = hooks;
    this.#hooks = hooks;
    this.#host = host;
    this.name = name;
    this.ns = ns;
    this.#forget = forget;
    this.#links = new MeshLinks({
      create: createLink ?? ((opts) => new PeerLink(opts)),
      signal: (peer, data) => host.request(signal(name, ns, peer, data)),
      onSignalError: (err) => this.#signalFailed(/** @type {Error} */ (err)),
      retry: signalRetry,
    });
    this.#direct = new DirectRoutes({
      emit: (event, ...args) => this.emit(event, ...args),
      setState: (peer, state) => this.#setState(peer, state),
      setConnectionType: (peer, type) => this.#setConnectionType(peer, type),
      peers: () => this.peers.keys(),
    });
    this.#routes = this.#direct;
    this.#slot = new SfuSlot({
      create: createSfu ?? ((opts) => new SfuLink(opts)),
      send: (data) => host.request(sfu(name, ns, data)),
      onSignalError: (err) => this.#signalFailed(/** @type {Error} */ (err)),
      retry: signalRetry,
    });
    this.#signalRetry = signalRetry;
    this.#sender = new RoomSender({
      auto: () => this.#auto,
      sfu: () => this.#sfu,
      links: this.#links,
      peers: this.peers,
      error: (err) => this.#error(err),
    });
    /** @type {any} */
    const ready = { done: false };
    ready.promise = new Promise((resolve, reject) => {
      ready.resolve = resolve;
      ready.reject = reject;
    });
    // Nobody may wait for it (a rejoin after a failed first join).
    ready.promise.catch(() => {});
    this.#ready = ready;
  }

  /** The SFU link, if there is one. */
  get #sfu() {
    return this.#slot.link;
  }

  /** Own peer id in this room. */
  get self() {
    return this.#selfId;
  }

  /**
   * Whether the server runs the room in mode auto: a mesh that moves to the
   * SFU when it grows and back when it shrinks ("mode" events).
   */
  get auto() {
    return this.#auto !== null;
  }

  /** What publish() was last given; null before or after unpublish(). */
  get localStream() {
    return this.#localStream;
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
    this.#localStream = stream;
    if (this.#left) return;
    for (const link of this.#links.values()) link.publish?.(stream);
    this.#sfu?.publish(stream);
  }

  /** Stops sending media to every peer. */
  unpublish() {
    this.#localStream = null;
    for (const link of this.#links.values()) link.publish?.(null);
    this.#sfu?.publish(null);
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
    if (quality === 'auto') this.#quality.delete(peer);
    else this.#quality.set(peer, quality);
    this.#sfu?.setQuality(peer, quality);
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
    this.#sizes ??= new SizeWatch((p, w, h) => this.#sfu?.setSize(p, w, h));
    return this.#sizes.observe(peer, element);
  }

  /**
   * The remote tracks of a peer: one MediaStream for the life of the link to
   * it, to which its tracks are added and from which they are removed.
   * @param {string} peer
   * @returns {MediaStream|undefined} undefined when there is no link to the peer
   */
  remoteStream(peer) {
    if (this.#auto) return this.peers.has(peer) ? this.#auto.streams.stream(peer) : undefined;
    if (this.#sfu) return this.peers.has(peer) ? this.#sfu.remoteStream(peer) : undefined;
    return this.#links.get(peer)?.remoteStream;
  }

  /**
   * Statistics of the link to a peer: the selected candidate pair, round
   * trip, byte totals, inbound video and audio, and bitrates since the
   * previous getStats of the same peer.
   * @param {string} peer
   * @returns {Promise<PeerStats|null>} null when there is no link to the peer
   */
  async getStats(peer) {
    if (this.#auto) return this.peers.has(peer) ? this.#auto.getStats(peer) : null;
    if (this.#sfu) return this.peers.has(peer) ? this.#sfu.getStats(peer) : null;
    const link = this.#links.get(peer);
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
    if (this.#left) throw new SwitchboardError('left', 'left the room');
    if (this.joined && this.#host.connected) {
      await this.#host.request(broadcast(this.name, this.ns, data));
      return;
    }
    // Offline (or rejoining): kept, in order, and sent once the room is
    // joined again.
    await this.#offline.wait(data);
  }

  /** Sends the broadcasts kept while offline, in order. */
  #flushOffline() {
    this.#offline.flush((data) => this.#host.request(broadcast(this.name, this.ns, data)));
  }

  /**
   * The RTCPeerConnection to a peer, for what the room does not cover; in an
   * sfu room the one every peer's media and data come through (the server's
   * "sub" connection).
   * @param {string} peer
   * @returns {RTCPeerConnection|undefined}
   */
  getConnection(peer) {
    if (this.#auto) return this.peers.has(peer) ? this.#auto.connection(peer) : undefined;
    if (this.#sfu) return this.peers.has(peer) ? this.#sfu.sub : undefined;
    return this.#links.get(peer)?.pc;
  }

  /**
   * In an sfu room, the RTCPeerConnection this side publishes on (the
   * server's "pub" connection), for its senders and their stats; undefined
   * before the first publish and in a mesh room.
   * @returns {RTCPeerConnection|undefined}
   */
  getPublishConnection() {
    return this.#sfu?.pub ?? undefined;
  }

  /** Leaves the room and closes every link of it. */
  async leave() {
    if (this.#left) return;
    const wasJoined = this.joined;
    this.#shutdown(new SwitchboardError('left', 'left the room'));
    if (!wasJoined || !this.#host.connected) return;
    try {
      await this.#host.request(leave(this.name, this.ns));
    } catch (err) {
      if (/** @type {any} */ (err).code !== ClientErrorCode.DISCONNECTED) throw err;
    }
  }

  /** @internal Whether the first join is over (done or failed). */
  get _joinedOnce() {
    return this.#ready.done;
  }

  /** @internal Resolves with the room after the first successful join. */
  _ready() {
    return this.#ready.promise;
  }

  /**
   * @internal Joins in the current session; Switchboard calls it after every
   * welcome of a new session, and after a resumed one for rooms that were
   * not joined yet.
   */
  async _join() {
    if (this.#left) return;
    this.#suspended = false;
    this.#joining++;
    let reply;
    try {
      reply = await this.#host.request(join(this.name, this.ns));
    } catch (err) {
      this.#joining--;
      this.#slot.forgetEarly();
      // Lost the session on the way: the next session joins again.
      if (/** @type {any} */ (err).code === ClientErrorCode.DISCONNECTED || this.#left) return;
      if (this.#ready.done) this.#error(/** @type {Error} */ (err));
      else this.#shutdown(/** @type {Error} */ (err));
      return;
    }
    this.#joining--;
    if (this.#left) {
      // Left while the join was under way: the session is in the room now.
      this.#host.request(leave(this.name, this.ns)).catch(() => {});
      return;
    }
    this.#onJoined(reply);
  }

  /**
   * @internal The connection dropped. Links stay up while it comes back, and
   * their signals wait: a resumed session sends them, a new one starts every
   * link afresh.
   */
  _disconnected() {
    if (this.joined) this.#suspended = true;
    this.joined = false;
    for (const outbox of this.#allOutboxes()) outbox.hold();
  }

  /**
   * @internal The session was resumed and what it missed is replayed: the
   * server kept it in the room with the same peer id, so nothing is joined
   * again and every link carries on. Rooms that were not joined when the
   * connection dropped join now, unless their join is under way.
   */
  _resumed() {
    if (this.#left) return;
    if (!this.#suspended) {
      if (!this.joined && this.#joining === 0) this._join();
      return;
    }
    this.#suspended = false;
    this.joined = true;
    this.#joins++;
    // Signals kept while away first, then what waited for signaling (ICE
    // restarts), then the broadcasts made while away.
    for (const outbox of this.#allOutboxes()) outbox.release();
    for (const link of this.#links.values()) link.resume?.();
    this.#flushOffline();
    this.#flushJoined();
    this.emit('joined', { rejoin: true, sameSession: true, resumed: true });
  }

  /**
   * @internal The Switchboard gave up or was closed: close everything.
   * @param {Error} err why
   */
  _close(err) {
    this.#shutdown(err);
  }

  /**
   * @internal New ICE servers (fresh TURN credentials) for the links to every
   * peer: later ICE gathering, including ICE restarts, uses them.
   * @param {RTCIceServer[]} list
   */
  _iceServers(list) {
    for (const link of this.#links.values()) link.setIceServers?.(list);
    this.#sfu?.setIceServers(list);
  }

  /**
   * @internal A frame for this room.
   * @param {{type: string, [key: string]: any}} frame
   */
  _handle(frame) {
    if (this.#left) return;
    switch (frame.type) {
      case 'peer-joined':
        if (typeof frame.peer === 'string' && frame.peer !== this.#selfId) this.#addPeer(/** @type {any} */ (frame));
        break;
      case 'peer-left':
        if (typeof frame.peer === 'string') this.#removePeer(frame.peer);
        break;
      case 'signal': {
        const from = frame.from;
        // While a resumed session replays what it missed, the room is not
        // joined again yet but its signals count.
        if (!(this.joined || this.#suspended) || typeof from !== 'string' || from === this.#selfId) return;
        if (this.#auto ? !this.#auto.wantsMesh(from) : this.mode === 'sfu') return; // no links to signal
        if (!this.peers.has(from)) this.#addPeer({ peer: from });
        this.#links.get(from)?.handleSignal(frame.data ?? {});
        break;
      }
      case 'broadcast':
        this.emit('broadcast', frame.from, frame.data);
        break;
      case 'sfu':
        if (this.#sfu && (this.joined || this.#suspended)) this.#sfu.handle(frame.data);
        // The SFU may speak before the join's reply: kept for the link made then.
        else if (this.#joining > 0) this.#slot.keep(frame.data);
        break;
      case 'mode':
        // An auto room switched (also while a resumed session replays).
        if (this.#auto && (this.joined || this.#suspended) && typeof frame.switch === 'number') {
          this.#auto.switchTo(frame.switch, frame.mode === 'sfu' ? 'sfu' : 'mesh');
        }
        break;
      case 'mode-ack':
        if (this.#auto && (this.joined || this.#suspended) && frame.from !== this.#selfId) this.#auto.acked(frame);
        break;
    }
  }

  /** @param {{peers?: unknown}} reply */
  #onJoined(reply) {
    const self = this.#host.id;
    const sameSession = self === this.#selfId;
    const mode = /** @type {any} */ (reply).mode === 'sfu' ? 'sfu' : 'mesh'; // servers before SFUs say nothing
    const auto = /** @type {any} */ (reply).auto === true;
    const sw = /** @type {any} */ (reply).switch;
    const switchId = typeof sw === 'number' && Number.isFinite(sw) ? sw : 0;
    const listed = (Array.isArray(reply.peers) ? reply.peers : []).filter(
      (p) => p && typeof p.peer === 'string' && p.peer !== self,
    );
    const afresh = !sameSession || auto !== (this.#auto !== null) || (!auto && mode !== this.mode);
    if (afresh) {
      // A new session means a new peer id: the others drop links to the old
      // one, so start every link afresh (and so for another mode). An auto
      // room follows its switches from here.
      this.#closeLinks();
      this.#closeSfu();
      this.#auto?.close();
      this.#controls?.outbox.close();
      this.#controls = null;
      this.#selfId = self;
      this.mode = mode;
      this.#auto = auto ? this.#makeAuto() : null;
      this.#routes = this.#auto ?? this.#direct;
      this.#auto?.reset(switchId, mode, listed.map((p) => p.peer));
      for (const entry of this.peers.values()) entry.connectionType = mode === 'sfu' ? 'sfu' : null;
    }
    const ids = new Set(listed.map((p) => p.peer));
    for (const id of [...this.peers.keys()]) if (!ids.has(id)) this.#removePeer(id);
    this.joined = true;
    for (const p of listed) this.#addPeer(p);
    if (mode === 'sfu' && !this.#sfu && (afresh || !this.#auto)) this.#openSfu();
    // The same session rejoined an auto room that switched meanwhile.
    if (!afresh) this.#auto?.switchTo(switchId, mode);
    this.#slot.forgetEarly();
    // Same session: links kept through the outage send the signals that
    // waited, then resume what waited for signaling (ICE restarts).
    if (sameSession) {
      for (const outbox of this.#allOutboxes()) outbox.release();
      for (const link of this.#links.values()) link.resume?.();
    }
    this.#flushOffline();
    const info = { rejoin: this.#joins++ > 0, sameSession };
    if (!this.#ready.done) {
      this.#ready.done = true;
      this.#ready.resolve(this);
      // join() resolves first: the first "joined" comes a task later, so
      // that a listener added right after `await sb.join()` gets it.
      this.#firstJoined = { timer: setTimeout(() => this.#flushJoined(), 0), info };
      return;
    }
    this.#flushJoined(); // a rejoin may beat the first one's timer
    this.emit('joined', info);
  }

  /** Emits the first "joined" if it is still due. */
  #flushJoined() {
    const first = this.#firstJoined;
    if (first === null) return;
    clearTimeout(first.timer);
    this.#firstJoined = null;
    if (!this.#left) this.emit('joined', first.info);
  }

  /** @param {{peer: string, user?: string, name?: string}} info */
  #addPeer(info) {
    let entry = this.peers.get(info.peer);
    if (entry) {
      if (typeof info.user === 'string') entry.user = info.user;
      if (typeof info.name === 'string') entry.name = info.name;
      this.#ensureLink(info.peer);
      return;
    }
    this.#auto?.added(info.peer);
    const viaSfu = this.#auto ? this.#auto.pathOf(info.peer) === 'sfu' : this.mode === 'sfu';
    const state = this.#auto ? this.#auto.stateOf(info.peer) : (this.#sfu?.state ?? 'connecting');
    entry = { peer: info.peer, user: info.user, name: info.name, state, connectionType: viaSfu ? 'sfu' : null };
    this.peers.set(info.peer, entry);
    this.#ensureLink(info.peer);
    this.emit('peer-joined', entry);
  }

  /** @param {string} id */
  #removePeer(id) {
    const entry = this.peers.get(id);
    this.#closeLink(id);
    this.#sfu?.dropPeer(id);
    this.#auto?.removed(id);
    this.#quality.delete(id);
    if (!entry) return;
    this.peers.delete(id);
    entry.state = 'closed';
    this.emit('peer-left', entry);
  }

  /** @param {string} id */
  #ensureLink(id) {
    const existing = this.#links.get(id);
    if (existing && existing.state !== 'closed') return;
    if (this.#selfId === null || (this.#auto ? this.#auto.target !== 'mesh' : this.mode === 'sfu')) return;
    const routes = this.#routes;
    const selfId = this.#selfId;
    let link;
    try {
      // A peer met in a replay: its signals go after the replay.
      link = this.#links.open(id, !this.joined, (current) => ({
        selfId,
        peerId: id,
        iceServers: this.#host.iceServers,
        canSignal: () => this.#host.connected && this.joined,
        onData: (data) => this.emit('data', id, data),
        onMessage: routes.meshMessage && ((raw) => routes.meshMessage?.(id, raw)),
        onState: (state) => current() && routes.meshState(id, state),
        onConnectionType: (type) => current() && routes.meshType(id, type),
        onTrack: (track, stream) => routes.meshTrack(id, track, stream, true),
        onTrackEnded: (track, stream) => routes.meshTrack(id, track, stream, false),
        onError: (err) => this.#error(new SwitchboardError('negotiation_failed', `link to ${id}: ${errorText(err)}`)),
      }));
    } catch (err) {
      this.#error(/** @type {Error} */ (err));
      return;
    }
    const entry = this.peers.get(id);
    if (entry && routes.showsMesh(id)) {
      // The old link's candidate pair says nothing about the new one.
      const typeChanged = entry.connectionType !== null;
      entry.connectionType = null;
      if (entry.state !== link.state) this.#setState(id, link.state);
      else if (typeChanged) this.emit('peer-state', id, entry.state, entry);
    }
    // New peers, and links rebuilt in a new session, get what is published.
    if (this.#localStream) link.publish?.(this.#localStream);
  }

  /**
   * A signal was given up (failed for good, or its retries are spent).
   * @param {Error} err
   */
  #signalFailed(err) {
    // The peer left, or the connection went: nothing to tell anyone.
    const code = /** @type {any} */ (err)?.code;
    if (code === ErrorCode.NOT_FOUND || code === ClientErrorCode.DISCONNECTED) return;
    this.#error(err);
  }

  /**
   * Closes the link to a peer and drops its unsent signals.
   * @param {string} id
   */
  #closeLink(id) {
    this.#links.close(id);
  }

  #closeLinks() {
    this.#links.closeAll();
  }

  /** The outboxes of every link, the SFU link's and the control frames' included. */
  #allOutboxes() {
    return [...this.#links.outboxes(), ...(this.#slot.outbox ? [this.#slot.outbox] : []), ...(this.#controls ? [this.#controls.outbox] : [])];
  }

  /**
   * An auto room's sfu-join, sfu-leave and mode-ack: in order, held while
   * the connection is down, sent again when rate-limited.
   * @param {{type: string, [key: string]: any}} frame
   * @returns {Promise<any>} the reply
   */
  #control(frame) {
    if (!this.#controls) {
      this.#controls = new RequestQueue((f) => this.#host.request(f), (err) => this.#signalFailed(/** @type {Error} */ (err)), this.#signalRetry);
      if (!this.joined) this.#controls.outbox.hold();
    }
    return this.#controls.send(frame);
  }

  /** What an auto room adds, wired to this room. */
  #makeAuto() {
    const auto = new AutoRoom(
      this.name,
      this.ns,
      {
        self: () => this.#selfId ?? '',
        peers: () => this.peers.keys(),
        link: (peer) => this.#links.get(peer),
        ensureLink: (peer) => this.#ensureLink(peer),
        closeLink: (peer) => this.#closeLink(peer),
        sfu: () => this.#sfu,
        openSfu: (admitted) => this.#openSfu(admitted),
        closeSfu: () => this.#closeSfu(),
        control: (frame) => this.#control(frame),
        emit: (event, ...args) => this.emit(event, ...args),
        setState: (peer, state) => this.#setState(peer, state),
        setConnectionType: (peer, type) => this.#setConnectionType(peer, /** @type {any} */ (type)),
        error: (err) => this.#error(err),
        done: (info) => {
          if (this.#auto !== auto) return;
          this.mode = info.mode;
          this.emit('mode', info);
        },
      },
      { MediaStream: this.#hooks.MediaStream, ...this.#hooks.auto },
    );
    return auto;
  }

  /**
   * Makes the SFU link of a joined sfu room (or of an auto room moving to
   * the SFU), with what the app asked for (published stream, sizes,
   * qualities), and hands it what the server sent before the join's reply.
   * @param {Promise<unknown>} [admitted] an auto room's sfu-join: the link's messages wait for its ack
   */
  #openSfu(admitted) {
    const routes = this.#routes;
    let link;
    try {
      link = this.#slot.open(!this.joined, admitted, (current) => ({
        iceServers: this.#host.iceServers,
        onTrack: (peer, track, stream) => routes.sfuTrack(peer, track, stream, true),
        onTrackEnded: (peer, track, stream) => routes.sfuTrack(peer, track, stream, false),
        onData: (peer, data) => this.emit('data', peer, data),
        onMessage: routes.sfuMessage && ((raw) => routes.sfuMessage?.(raw)),
        onState: (state) => current() && routes.sfuState(state),
        onSpeakers: (peers) => {
          this.speakers = peers;
          this.emit('speakers', peers);
        },
        onLayer: (peer, track, layer, paused, media) => this.emit('layer', peer, track, layer, paused, media),
        onServerError: (code, message) => this.#error(new SwitchboardError('sfu_error', `SFU: ${message || code} (${code})`)),
        onError: (err) => this.#error(new SwitchboardError('negotiation_failed', `SFU link: ${errorText(err)}`)),
      }));
    } catch (err) {
      this.#error(/** @type {Error} */ (err));
      return;
    }
    routes.sfuState(link.state);
    if (this.#localStream) link.publish(this.#localStream);
    for (const [peer, quality] of this.#quality) link.setQuality(peer, quality);
    for (const [peer, { width, height }] of this.#sizes?.sizes() ?? []) link.setSize(peer, width, height);
    this.#slot.flushEarly();
  }

  #closeSfu() {
    this.#slot.close();
    this.speakers = [];
  }

  /**
   * @param {string} id
   * @param {PeerState} state
   */
  #setState(id, state) {
    const entry = this.peers.get(id);
    if (!entry || entry.state === state) return;
    entry.state = state;
    this.emit('peer-state', id, state, entry);
  }

  /**
   * @param {string} id
   * @param {ConnectionType|null} type
   */
  #setConnectionType(id, type) {
    const entry = this.peers.get(id);
    if (!entry || entry.connectionType === type) return;
    entry.connectionType = type;
    this.emit('peer-state', id, entry.state, entry);
  }

  /** @param {Error} err */
  #shutdown(err) {
    if (this.#left) return;
    this.#left = true;
    this.#offline.reject(err);
    this.joined = false;
    this.#forget();
    clearTimeout(this.#firstJoined?.timer);
    this.#firstJoined = null;
    this.#closeLinks();
    this.#closeSfu();
    this.#auto?.close();
    this.#controls?.outbox.close();
    this.#controls = null;
    this.#sizes?.close();
    this.#slot.forgetEarly();
    for (const entry of this.peers.values()) entry.state = 'closed';
    this.peers.clear();
    if (!this.#ready.done) {
      this.#ready.done = true;
      this.#ready.reject(err);
    }
  }

  /** @param {Error} err */
  #error(err) {
    if (!this.emit('error', err)) console.warn('switchboard:', err);
  }
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

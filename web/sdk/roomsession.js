// A room within the signaling session: its joins (the first, rejoins in a
// new session, carrying on after a resume), its members as the server lists
// them (joined, peer-joined, peer-left) with their PeerInfo, and the frames
// for the room. It decides when the links to the peers (roomlinks.js) are
// made and closed. The Room (room.js) is the app's side: its API, public
// state and events, which this writes.

import { ClientErrorCode, broadcast, join, leave } from './protocol.js';
import { OfflineBroadcasts } from './broadcasts.js';
import { RoomLinks } from './roomlinks.js';

/**
 * @typedef {import('./room.js').Room} Room
 * @typedef {import('./room.js').RoomHost} RoomHost
 * @typedef {import('./room.js').RoomHooks} RoomHooks
 * @typedef {import('./peer.js').PeerState} PeerState
 * @typedef {import('./stats.js').ConnectionType} ConnectionType
 * @typedef {import('./sizes.js').SizeWatch} SizeWatch
 */

export class RoomSession {
  /** @type {Room} the room whose session this is: its public state and events */
  #room;
  /** the links to the room's peers in its mode: mesh, SFU, or an auto room's */
  links;
  /** @type {RoomHost} the Switchboard */
  host;
  #forget;
  /** @type {{timer: any, info: {rejoin: boolean, sameSession: boolean}}|null} the first "joined", due in a moment */
  #firstJoined = null;
  /** @type {string|null} own peer id the links were made with */
  selfId = null;
  /** whether the room was left or closed: it does nothing any more */
  left = false;
  /** joined when the connection dropped: a resumed session is still in the room on the server */
  #suspended = false;
  /** join requests under way */
  #joining = 0;
  /** broadcasts made while offline */
  offline = new OfflineBroadcasts();
  /** joins completed, the first one included */
  #joins = 0;
  /** @type {MediaStream|null} */
  localStream = null;
  /** @type {{promise: Promise<Room>, resolve: (r: Room) => void, reject: (e: Error) => void, done: boolean}} */
  ready;
  /** @type {SizeWatch|null} the video elements the app registered (observe) */
  sizes = null;
  /** @type {Map<string, string>} setQuality choices other than auto, by peer */
  quality = new Map();

  /**
   * @param {Room} room the room whose session this is
   * @param {RoomHost} host
   * @param {string} name
   * @param {string|undefined} ns
   * @param {RoomHooks} hooks
   */
  constructor(room, host, name, ns, hooks) {
    this.#room = room;
    this.#forget = hooks.forget;
    this.host = host;
    this.links = new RoomLinks(room, this, name, ns, hooks);
    /** @type {any} */
    const ready = { done: false };
    ready.promise = new Promise((resolve, reject) => {
      ready.resolve = resolve;
      ready.reject = reject;
    });
    // Nobody may wait for it (a rejoin after a failed first join).
    ready.promise.catch(() => {});
    this.ready = ready;
  }

  /** Sends the broadcasts kept while offline, in order. */
  #flushOffline() {
    this.offline.flush((data) => this.host.request(broadcast(this.#room.name, this.#room.ns, data)));
  }

  /**
   * Joins in the current session; Switchboard calls it after every
   * welcome of a new session, and after a resumed one for rooms that were
   * not joined yet.
   */
  async join() {
    if (this.left) return;
    this.#suspended = false;
    this.#joining++;
    let reply;
    try {
      reply = await this.host.request(join(this.#room.name, this.#room.ns));
    } catch (err) {
      this.#joining--;
      this.links.slot.forgetEarly();
      // Lost the session on the way: the next session joins again.
      if (/** @type {any} */ (err).code === ClientErrorCode.DISCONNECTED || this.left) return;
      if (this.ready.done) this.error(/** @type {Error} */ (err));
      else this.shutdown(/** @type {Error} */ (err));
      return;
    }
    this.#joining--;
    if (this.left) {
      // Left while the join was under way: the session is in the room now.
      this.host.request(leave(this.#room.name, this.#room.ns)).catch(() => {});
      return;
    }
    this.#onJoined(reply);
  }

  /**
   * The connection dropped. Links stay up while it comes back, and
   * their signals wait: a resumed session sends them, a new one starts every
   * link afresh.
   */
  disconnected() {
    if (this.#room.joined) this.#suspended = true;
    this.#room.joined = false;
    for (const outbox of this.links.allOutboxes()) outbox.hold();
  }

  /**
   * The session was resumed and what it missed is replayed: the
   * server kept it in the room with the same peer id, so nothing is joined
   * again and every link carries on. Rooms that were not joined when the
   * connection dropped join now, unless their join is under way.
   */
  resumed() {
    if (this.left) return;
    if (!this.#suspended) {
      if (!this.#room.joined && this.#joining === 0) this.join();
      return;
    }
    this.#suspended = false;
    this.#room.joined = true;
    this.#joins++;
    // Signals kept while away first, then what waited for signaling (ICE
    // restarts), then the broadcasts made while away.
    for (const outbox of this.links.allOutboxes()) outbox.release();
    for (const link of this.links.mesh.values()) link.resume?.();
    this.#flushOffline();
    this.#flushJoined();
    this.#room.emit('joined', { rejoin: true, sameSession: true, resumed: true });
  }

  /**
   * The Switchboard gave up or was closed: close everything.
   * @param {Error} err why
   */
  close(err) {
    this.shutdown(err);
  }

  /**
   * New ICE servers (fresh TURN credentials) for the links to every
   * peer: later ICE gathering, including ICE restarts, uses them.
   * @param {RTCIceServer[]} list
   */
  iceServers(list) {
    for (const link of this.links.mesh.values()) link.setIceServers?.(list);
    this.links.sfu?.setIceServers(list);
  }

  /**
   * A frame for this room.
   * @param {{type: string, [key: string]: any}} frame
   */
  handle(frame) {
    if (this.left) return;
    switch (frame.type) {
      case 'peer-joined':
        if (typeof frame.peer === 'string' && frame.peer !== this.selfId) this.#addPeer(/** @type {any} */ (frame));
        break;
      case 'peer-left':
        if (typeof frame.peer === 'string') this.#removePeer(frame.peer);
        break;
      case 'signal': {
        const from = frame.from;
        // While a resumed session replays what it missed, the room is not
        // joined again yet but its signals count.
        if (!(this.#room.joined || this.#suspended) || typeof from !== 'string' || from === this.selfId) return;
        if (this.links.auto ? !this.links.auto.wantsMesh(from) : this.#room.mode === 'sfu') return; // no links to signal
        if (!this.#room.peers.has(from)) this.#addPeer({ peer: from });
        this.links.mesh.get(from)?.handleSignal(frame.data ?? {});
        break;
      }
      case 'broadcast':
        this.#room.emit('broadcast', frame.from, frame.data);
        break;
      case 'sfu':
        if (this.links.sfu && (this.#room.joined || this.#suspended)) this.links.sfu.handle(frame.data);
        // The SFU may speak before the join's reply: kept for the link made then.
        else if (this.#joining > 0) this.links.slot.keep(frame.data);
        break;
      case 'mode':
        // An auto room switched (also while a resumed session replays).
        if (this.links.auto && (this.#room.joined || this.#suspended) && typeof frame.switch === 'number') {
          this.links.auto.switchTo(frame.switch, frame.mode === 'sfu' ? 'sfu' : 'mesh');
        }
        break;
      case 'mode-ack':
        if (this.links.auto && (this.#room.joined || this.#suspended) && frame.from !== this.selfId) this.links.auto.acked(frame);
        break;
    }
  }

  /** @param {{peers?: unknown}} reply */
  #onJoined(reply) {
    const self = this.host.id;
    const sameSession = self === this.selfId;
    const mode = /** @type {any} */ (reply).mode === 'sfu' ? 'sfu' : 'mesh'; // servers before SFUs say nothing
    const auto = /** @type {any} */ (reply).auto === true;
    const sw = /** @type {any} */ (reply).switch;
    const switchId = typeof sw === 'number' && Number.isFinite(sw) ? sw : 0;
    const listed = (Array.isArray(reply.peers) ? reply.peers : []).filter(
      (p) => p && typeof p.peer === 'string' && p.peer !== self,
    );
    const afresh = !sameSession || auto !== (this.links.auto !== null) || (!auto && mode !== this.#room.mode);
    if (afresh) {
      // A new session means a new peer id: the others drop links to the old
      // one, so start every link afresh (and so for another mode). An auto
      // room follows its switches from here.
      this.links.closeLinks();
      this.links.closeSfu();
      this.links.auto?.close();
      this.links.controls?.outbox.close();
      this.links.controls = null;
      this.selfId = self;
      this.#room.mode = mode;
      this.links.auto = auto ? this.links.makeAuto() : null;
      this.links.routes = this.links.auto ?? this.links.direct;
      this.links.auto?.reset(switchId, mode, listed.map((p) => p.peer));
      for (const entry of this.#room.peers.values()) entry.connectionType = mode === 'sfu' ? 'sfu' : null;
    }
    const ids = new Set(listed.map((p) => p.peer));
    for (const id of [...this.#room.peers.keys()]) if (!ids.has(id)) this.#removePeer(id);
    this.#room.joined = true;
    for (const p of listed) this.#addPeer(p);
    if (mode === 'sfu' && !this.links.sfu && (afresh || !this.links.auto)) this.links.openSfu();
    // The same session rejoined an auto room that switched meanwhile.
    if (!afresh) this.links.auto?.switchTo(switchId, mode);
    this.links.slot.forgetEarly();
    // Same session: links kept through the outage send the signals that
    // waited, then resume what waited for signaling (ICE restarts).
    if (sameSession) {
      for (const outbox of this.links.allOutboxes()) outbox.release();
      for (const link of this.links.mesh.values()) link.resume?.();
    }
    this.#flushOffline();
    const info = { rejoin: this.#joins++ > 0, sameSession };
    if (!this.ready.done) {
      this.ready.done = true;
      this.ready.resolve(this.#room);
      // join() resolves first: the first "joined" comes a task later, so
      // that a listener added right after `await sb.join()` gets it.
      this.#firstJoined = { timer: setTimeout(() => this.#flushJoined(), 0), info };
      return;
    }
    this.#flushJoined(); // a rejoin may beat the first one's timer
    this.#room.emit('joined', info);
  }

  /** Emits the first "joined" if it is still due. */
  #flushJoined() {
    const first = this.#firstJoined;
    if (first === null) return;
    clearTimeout(first.timer);
    this.#firstJoined = null;
    if (!this.left) this.#room.emit('joined', first.info);
  }

  /** @param {{peer: string, user?: string, name?: string}} info */
  #addPeer(info) {
    let entry = this.#room.peers.get(info.peer);
    if (entry) {
      if (typeof info.user === 'string') entry.user = info.user;
      if (typeof info.name === 'string') entry.name = info.name;
      this.links.ensureLink(info.peer);
      return;
    }
    this.links.auto?.added(info.peer);
    const viaSfu = this.links.auto ? this.links.auto.pathOf(info.peer) === 'sfu' : this.#room.mode === 'sfu';
    const state = this.links.auto ? this.links.auto.stateOf(info.peer) : (this.links.sfu?.state ?? 'connecting');
    entry = { peer: info.peer, user: info.user, name: info.name, state, connectionType: viaSfu ? 'sfu' : null };
    this.#room.peers.set(info.peer, entry);
    this.links.ensureLink(info.peer);
    this.#room.emit('peer-joined', entry);
  }

  /** @param {string} id */
  #removePeer(id) {
    const entry = this.#room.peers.get(id);
    this.links.closeLink(id);
    this.links.sfu?.dropPeer(id);
    this.links.auto?.removed(id);
    this.quality.delete(id);
    if (!entry) return;
    this.#room.peers.delete(id);
    entry.state = 'closed';
    this.#room.emit('peer-left', entry);
  }

  /**
   * A peer's state changed (the state of the path it is on): its PeerInfo
   * and a "peer-state" event.
   * @param {string} id
   * @param {PeerState} state
   */
  setState(id, state) {
    const entry = this.#room.peers.get(id);
    if (!entry || entry.state === state) return;
    entry.state = state;
    this.#room.emit('peer-state', id, state, entry);
  }

  /**
   * A peer's connection type changed: its PeerInfo and a "peer-state" event.
   * @param {string} id
   * @param {ConnectionType|null} type
   */
  setConnectionType(id, type) {
    const entry = this.#room.peers.get(id);
    if (!entry || entry.connectionType === type) return;
    entry.connectionType = type;
    this.#room.emit('peer-state', id, entry.state, entry);
  }

  /** @param {Error} err */
  shutdown(err) {
    if (this.left) return;
    this.left = true;
    this.offline.reject(err);
    this.#room.joined = false;
    this.#forget();
    clearTimeout(this.#firstJoined?.timer);
    this.#firstJoined = null;
    this.links.closeLinks();
    this.links.closeSfu();
    this.links.auto?.close();
    this.links.controls?.outbox.close();
    this.links.controls = null;
    this.sizes?.close();
    this.links.slot.forgetEarly();
    for (const entry of this.#room.peers.values()) entry.state = 'closed';
    this.#room.peers.clear();
    if (!this.ready.done) {
      this.ready.done = true;
      this.ready.reject(err);
    }
  }

  /** @param {Error} err */
  error(err) {
    if (!this.#room.emit('error', err)) console.warn('switchboard:', err);
  }
}

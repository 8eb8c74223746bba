// A room within the signaling session: its joins (the first, rejoins in a
// new session, carrying on after a resume), its members as the server lists
// them (joined, peer-joined, peer-left), the frames for the room, and the
// links to its peers in the room's mode: a mesh of PeerLinks (mesh.js), the
// SFU link (sfuslot.js), or an auto room's switching between them (auto.js).
// The Room (room.js) is the app's side: its API, public state and events,
// which this writes.

import { ClientErrorCode, ErrorCode, SwitchboardError, broadcast, join, leave, sfu, signal } from './protocol.js';
import { RequestQueue } from './outbox.js';
import { AutoRoom } from './auto.js';
import { OfflineBroadcasts } from './broadcasts.js';
import { MeshLinks } from './mesh.js';
import { SfuSlot } from './sfuslot.js';
import { DirectRoutes } from './routes.js';
import { PeerLink } from './peer.js';
import { SfuLink } from './sfu.js';

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
  /** @type {RoomHost} the Switchboard */
  host;
  #forget;
  /** the mesh links, by peer id */
  links;
  /** @type {import('./outbox.js').SignalRetryOptions|undefined} */
  #signalRetry;
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
  /** the SFU link of an sfu room (or of an auto room using the SFU) */
  #slot;
  /** @type {SizeWatch|null} the video elements the app registered (observe) */
  sizes = null;
  /** @type {Map<string, string>} setQuality choices other than auto, by peer */
  quality = new Map();
  /** @type {AutoRoom|null} what an auto room adds; null in mesh and sfu rooms */
  auto = null;
  /** @type {import('./routes.js').Routes} where link events go: the auto room's, or straight to the room's events */
  #routes;
  #direct;
  /** @type {RequestQueue|null} an auto room's sfu-join, sfu-leave and mode-ack frames */
  #controls = null;
  /** @type {RoomHooks} */
  #hooks;

  /**
   * @param {Room} room the room whose session this is
   * @param {RoomHost} host
   * @param {string} name
   * @param {string|undefined} ns
   * @param {RoomHooks} hooks
   */
  constructor(room, host, name, ns, hooks) {
    this.#room = room;
    const { forget, createLink, createSfu, signalRetry } = hooks;
    this.#hooks = hooks;
    this.host = host;
    this.#forget = forget;
    this.links = new MeshLinks({
      create: createLink ?? ((opts) => new PeerLink(opts)),
      signal: (peer, data) => host.request(signal(name, ns, peer, data)),
      onSignalError: (err) => this.#signalFailed(/** @type {Error} */ (err)),
      retry: signalRetry,
    });
    this.#direct = new DirectRoutes({
      emit: (event, ...args) => this.#room.emit(event, ...args),
      setState: (peer, state) => this.#setState(peer, state),
      setConnectionType: (peer, type) => this.#setConnectionType(peer, type),
      peers: () => this.#room.peers.keys(),
    });
    this.#routes = this.#direct;
    this.#slot = new SfuSlot({
      create: createSfu ?? ((opts) => new SfuLink(opts)),
      send: (data) => host.request(sfu(name, ns, data)),
      onSignalError: (err) => this.#signalFailed(/** @type {Error} */ (err)),
      retry: signalRetry,
    });
    this.#signalRetry = signalRetry;
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

  /** The SFU link, if there is one. */
  get sfu() {
    return this.#slot.link;
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
      this.#slot.forgetEarly();
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
    for (const outbox of this.#allOutboxes()) outbox.hold();
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
    for (const outbox of this.#allOutboxes()) outbox.release();
    for (const link of this.links.values()) link.resume?.();
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
    for (const link of this.links.values()) link.setIceServers?.(list);
    this.sfu?.setIceServers(list);
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
        if (this.auto ? !this.auto.wantsMesh(from) : this.#room.mode === 'sfu') return; // no links to signal
        if (!this.#room.peers.has(from)) this.#addPeer({ peer: from });
        this.links.get(from)?.handleSignal(frame.data ?? {});
        break;
      }
      case 'broadcast':
        this.#room.emit('broadcast', frame.from, frame.data);
        break;
      case 'sfu':
        if (this.sfu && (this.#room.joined || this.#suspended)) this.sfu.handle(frame.data);
        // The SFU may speak before the join's reply: kept for the link made then.
        else if (this.#joining > 0) this.#slot.keep(frame.data);
        break;
      case 'mode':
        // An auto room switched (also while a resumed session replays).
        if (this.auto && (this.#room.joined || this.#suspended) && typeof frame.switch === 'number') {
          this.auto.switchTo(frame.switch, frame.mode === 'sfu' ? 'sfu' : 'mesh');
        }
        break;
      case 'mode-ack':
        if (this.auto && (this.#room.joined || this.#suspended) && frame.from !== this.selfId) this.auto.acked(frame);
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
    const afresh = !sameSession || auto !== (this.auto !== null) || (!auto && mode !== this.#room.mode);
    if (afresh) {
      // A new session means a new peer id: the others drop links to the old
      // one, so start every link afresh (and so for another mode). An auto
      // room follows its switches from here.
      this.#closeLinks();
      this.#closeSfu();
      this.auto?.close();
      this.#controls?.outbox.close();
      this.#controls = null;
      this.selfId = self;
      this.#room.mode = mode;
      this.auto = auto ? this.#makeAuto() : null;
      this.#routes = this.auto ?? this.#direct;
      this.auto?.reset(switchId, mode, listed.map((p) => p.peer));
      for (const entry of this.#room.peers.values()) entry.connectionType = mode === 'sfu' ? 'sfu' : null;
    }
    const ids = new Set(listed.map((p) => p.peer));
    for (const id of [...this.#room.peers.keys()]) if (!ids.has(id)) this.#removePeer(id);
    this.#room.joined = true;
    for (const p of listed) this.#addPeer(p);
    if (mode === 'sfu' && !this.sfu && (afresh || !this.auto)) this.#openSfu();
    // The same session rejoined an auto room that switched meanwhile.
    if (!afresh) this.auto?.switchTo(switchId, mode);
    this.#slot.forgetEarly();
    // Same session: links kept through the outage send the signals that
    // waited, then resume what waited for signaling (ICE restarts).
    if (sameSession) {
      for (const outbox of this.#allOutboxes()) outbox.release();
      for (const link of this.links.values()) link.resume?.();
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
      this.#ensureLink(info.peer);
      return;
    }
    this.auto?.added(info.peer);
    const viaSfu = this.auto ? this.auto.pathOf(info.peer) === 'sfu' : this.#room.mode === 'sfu';
    const state = this.auto ? this.auto.stateOf(info.peer) : (this.sfu?.state ?? 'connecting');
    entry = { peer: info.peer, user: info.user, name: info.name, state, connectionType: viaSfu ? 'sfu' : null };
    this.#room.peers.set(info.peer, entry);
    this.#ensureLink(info.peer);
    this.#room.emit('peer-joined', entry);
  }

  /** @param {string} id */
  #removePeer(id) {
    const entry = this.#room.peers.get(id);
    this.#closeLink(id);
    this.sfu?.dropPeer(id);
    this.auto?.removed(id);
    this.quality.delete(id);
    if (!entry) return;
    this.#room.peers.delete(id);
    entry.state = 'closed';
    this.#room.emit('peer-left', entry);
  }

  /** @param {string} id */
  #ensureLink(id) {
    const existing = this.links.get(id);
    if (existing && existing.state !== 'closed') return;
    if (this.selfId === null || (this.auto ? this.auto.target !== 'mesh' : this.#room.mode === 'sfu')) return;
    const routes = this.#routes;
    const selfId = this.selfId;
    let link;
    try {
      // A peer met in a replay: its signals go after the replay.
      link = this.links.open(id, !this.#room.joined, (current) => ({
        selfId,
        peerId: id,
        iceServers: this.host.iceServers,
        canSignal: () => this.host.connected && this.#room.joined,
        onData: (data) => this.#room.emit('data', id, data),
        onMessage: routes.meshMessage && ((raw) => routes.meshMessage?.(id, raw)),
        onState: (state) => current() && routes.meshState(id, state),
        onConnectionType: (type) => current() && routes.meshType(id, type),
        onTrack: (track, stream) => routes.meshTrack(id, track, stream, true),
        onTrackEnded: (track, stream) => routes.meshTrack(id, track, stream, false),
        onError: (err) => this.error(new SwitchboardError('negotiation_failed', `link to ${id}: ${errorText(err)}`)),
      }));
    } catch (err) {
      this.error(/** @type {Error} */ (err));
      return;
    }
    const entry = this.#room.peers.get(id);
    if (entry && routes.showsMesh(id)) {
      // The old link's candidate pair says nothing about the new one.
      const typeChanged = entry.connectionType !== null;
      entry.connectionType = null;
      if (entry.state !== link.state) this.#setState(id, link.state);
      else if (typeChanged) this.#room.emit('peer-state', id, entry.state, entry);
    }
    // New peers, and links rebuilt in a new session, get what is published.
    if (this.localStream) link.publish?.(this.localStream);
  }

  /**
   * A signal was given up (failed for good, or its retries are spent).
   * @param {Error} err
   */
  #signalFailed(err) {
    // The peer left, or the connection went: nothing to tell anyone.
    const code = /** @type {any} */ (err)?.code;
    if (code === ErrorCode.NOT_FOUND || code === ClientErrorCode.DISCONNECTED) return;
    this.error(err);
  }

  /**
   * Closes the link to a peer and drops its unsent signals.
   * @param {string} id
   */
  #closeLink(id) {
    this.links.close(id);
  }

  #closeLinks() {
    this.links.closeAll();
  }

  /** The outboxes of every link, the SFU link's and the control frames' included. */
  #allOutboxes() {
    return [...this.links.outboxes(), ...(this.#slot.outbox ? [this.#slot.outbox] : []), ...(this.#controls ? [this.#controls.outbox] : [])];
  }

  /**
   * An auto room's sfu-join, sfu-leave and mode-ack: in order, held while
   * the connection is down, sent again when rate-limited.
   * @param {{type: string, [key: string]: any}} frame
   * @returns {Promise<any>} the reply
   */
  #control(frame) {
    if (!this.#controls) {
      this.#controls = new RequestQueue((f) => this.host.request(f), (err) => this.#signalFailed(/** @type {Error} */ (err)), this.#signalRetry);
      if (!this.#room.joined) this.#controls.outbox.hold();
    }
    return this.#controls.send(frame);
  }

  /** What an auto room adds, wired to this room. */
  #makeAuto() {
    const auto = new AutoRoom(
      this.#room.name,
      this.#room.ns,
      {
        self: () => this.selfId ?? '',
        peers: () => this.#room.peers.keys(),
        link: (peer) => this.links.get(peer),
        ensureLink: (peer) => this.#ensureLink(peer),
        closeLink: (peer) => this.#closeLink(peer),
        sfu: () => this.sfu,
        openSfu: (admitted) => this.#openSfu(admitted),
        closeSfu: () => this.#closeSfu(),
        control: (frame) => this.#control(frame),
        emit: (event, ...args) => this.#room.emit(event, ...args),
        setState: (peer, state) => this.#setState(peer, state),
        setConnectionType: (peer, type) => this.#setConnectionType(peer, /** @type {any} */ (type)),
        error: (err) => this.error(err),
        done: (info) => {
          if (this.auto !== auto) return;
          this.#room.mode = info.mode;
          this.#room.emit('mode', info);
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
      link = this.#slot.open(!this.#room.joined, admitted, (current) => ({
        iceServers: this.host.iceServers,
        onTrack: (peer, track, stream) => routes.sfuTrack(peer, track, stream, true),
        onTrackEnded: (peer, track, stream) => routes.sfuTrack(peer, track, stream, false),
        onData: (peer, data) => this.#room.emit('data', peer, data),
        onMessage: routes.sfuMessage && ((raw) => routes.sfuMessage?.(raw)),
        onState: (state) => current() && routes.sfuState(state),
        onSpeakers: (peers) => {
          this.#room.speakers = peers;
          this.#room.emit('speakers', peers);
        },
        onLayer: (peer, track, layer, paused, media) => this.#room.emit('layer', peer, track, layer, paused, media),
        onServerError: (code, message) => this.error(new SwitchboardError('sfu_error', `SFU: ${message || code} (${code})`)),
        onError: (err) => this.error(new SwitchboardError('negotiation_failed', `SFU link: ${errorText(err)}`)),
      }));
    } catch (err) {
      this.error(/** @type {Error} */ (err));
      return;
    }
    routes.sfuState(link.state);
    if (this.localStream) link.publish(this.localStream);
    for (const [peer, quality] of this.quality) link.setQuality(peer, quality);
    for (const [peer, { width, height }] of this.sizes?.sizes() ?? []) link.setSize(peer, width, height);
    this.#slot.flushEarly();
  }

  #closeSfu() {
    this.#slot.close();
    this.#room.speakers = [];
  }

  /**
   * @param {string} id
   * @param {PeerState} state
   */
  #setState(id, state) {
    const entry = this.#room.peers.get(id);
    if (!entry || entry.state === state) return;
    entry.state = state;
    this.#room.emit('peer-state', id, state, entry);
  }

  /**
   * @param {string} id
   * @param {ConnectionType|null} type
   */
  #setConnectionType(id, type) {
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
    this.#closeLinks();
    this.#closeSfu();
    this.auto?.close();
    this.#controls?.outbox.close();
    this.#controls = null;
    this.sizes?.close();
    this.#slot.forgetEarly();
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
  }}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

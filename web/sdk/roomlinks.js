// The links of a room to its peers, in the room's mode: the mesh links
// (mesh.js), the SFU link (sfuslot.js), or an auto room's switching between
// them (auto.js), with where their events go (routes.js) and an auto room's
// control requests. The room's session (roomsession.js) decides when a link
// is made or closed; this makes it with what it needs: the peer ids, the
// ICE servers, what the app published and asked for.

import { ClientErrorCode, ErrorCode, SwitchboardError, sfu, signal } from './protocol.js';
import { RequestQueue } from './outbox.js';
import { AutoRoom } from './auto.js';
import { MeshLinks } from './mesh.js';
import { SfuSlot } from './sfuslot.js';
import { DirectRoutes } from './routes.js';
import { PeerLink } from './peer.js';
import { SfuLink } from './sfu.js';

/**
 * @typedef {import('./room.js').Room} Room
 * @typedef {import('./room.js').RoomHooks} RoomHooks
 * @typedef {import('./roomsession.js').RoomSession} RoomSession
 */

export class RoomLinks {
  /** @type {Room} */
  #room;
  /** @type {RoomSession} the room's session: its host, own id, what the app asked for */
  #session;
  /** the mesh links, by peer id */
  mesh;
  /** @type {import('./outbox.js').SignalRetryOptions|undefined} */
  #signalRetry;
  /** the SFU link of an sfu room (or of an auto room using the SFU) */
  slot;
  /** @type {AutoRoom|null} what an auto room adds; null in mesh and sfu rooms */
  auto = null;
  /** @type {import('./routes.js').Routes} where link events go: the auto room's, or straight to the room's events */
  routes;
  direct;
  /** @type {RequestQueue|null} an auto room's sfu-join, sfu-leave and mode-ack frames */
  controls = null;
  /** @type {RoomHooks} */
  #hooks;

  /**
   * @param {Room} room
   * @param {RoomSession} session
   * @param {string} name
   * @param {string|undefined} ns
   * @param {RoomHooks} hooks
   */
  constructor(room, session, name, ns, hooks) {
    this.#room = room;
    this.#session = session;
    const { createLink, createSfu, signalRetry } = hooks;
    this.#hooks = hooks;
    this.mesh = new MeshLinks({
      create: createLink ?? ((opts) => new PeerLink(opts)),
      signal: (peer, data) => session.host.request(signal(name, ns, peer, data)),
      onSignalError: (err) => this.#signalFailed(/** @type {Error} */ (err)),
      retry: signalRetry,
    });
    this.direct = new DirectRoutes({
      emit: (event, ...args) => this.#room.emit(event, ...args),
      setState: (peer, state) => session.setState(peer, state),
      setConnectionType: (peer, type) => session.setConnectionType(peer, type),
      peers: () => this.#room.peers.keys(),
    });
    this.routes = this.direct;
    this.slot = new SfuSlot({
      create: createSfu ?? ((opts) => new SfuLink(opts)),
      send: (data) => session.host.request(sfu(name, ns, data)),
      onSignalError: (err) => this.#signalFailed(/** @type {Error} */ (err)),
      retry: signalRetry,
    });
    this.#signalRetry = signalRetry;
  }

  /** The SFU link, if there is one. */
  get sfu() {
    return this.slot.link;
  }

  /** @param {string} id */
  ensureLink(id) {
    const existing = this.mesh.get(id);
    if (existing && existing.state !== 'closed') return;
    if (this.#session.selfId === null || (this.auto ? this.auto.target !== 'mesh' : this.#room.mode === 'sfu')) return;
    const routes = this.routes;
    const selfId = this.#session.selfId;
    let link;
    try {
      // A peer met in a replay: its signals go after the replay.
      link = this.mesh.open(id, !this.#room.joined, (current) => ({
        selfId,
        peerId: id,
        iceServers: this.#session.host.iceServers,
        canSignal: () => this.#session.host.connected && this.#room.joined,
        onData: (data) => this.#room.emit('data', id, data),
        onMessage: routes.meshMessage && ((raw) => routes.meshMessage?.(id, raw)),
        onState: (state) => current() && routes.meshState(id, state),
        onConnectionType: (type) => current() && routes.meshType(id, type),
        onTrack: (track, stream) => routes.meshTrack(id, track, stream, true),
        onTrackEnded: (track, stream) => routes.meshTrack(id, track, stream, false),
        onError: (err) => this.#session.error(new SwitchboardError('negotiation_failed', `link to ${id}: ${errorText(err)}`)),
      }));
    } catch (err) {
      this.#session.error(/** @type {Error} */ (err));
      return;
    }
    const entry = this.#room.peers.get(id);
    if (entry && routes.showsMesh(id)) {
      // The old link's candidate pair says nothing about the new one.
      const typeChanged = entry.connectionType !== null;
      entry.connectionType = null;
      if (entry.state !== link.state) this.#session.setState(id, link.state);
      else if (typeChanged) this.#room.emit('peer-state', id, entry.state, entry);
    }
    // New peers, and links rebuilt in a new session, get what is published.
    if (this.#session.localStream) link.publish?.(this.#session.localStream);
  }

  /**
   * A signal was given up (failed for good, or its retries are spent).
   * @param {Error} err
   */
  #signalFailed(err) {
    // The peer left, or the connection went: nothing to tell anyone.
    const code = /** @type {any} */ (err)?.code;
    if (code === ErrorCode.NOT_FOUND || code === ClientErrorCode.DISCONNECTED) return;
    this.#session.error(err);
  }

  /**
   * Closes the link to a peer and drops its unsent signals.
   * @param {string} id
   */
  closeLink(id) {
    this.mesh.close(id);
  }

  closeLinks() {
    this.mesh.closeAll();
  }

  /** The outboxes of every link, the SFU link's and the control frames' included. */
  allOutboxes() {
    return [...this.mesh.outboxes(), ...(this.slot.outbox ? [this.slot.outbox] : []), ...(this.controls ? [this.controls.outbox] : [])];
  }

  /**
   * An auto room's sfu-join, sfu-leave and mode-ack: in order, held while
   * the connection is down, sent again when rate-limited.
   * @param {{type: string, [key: string]: any}} frame
   * @returns {Promise<any>} the reply
   */
  control(frame) {
    if (!this.controls) {
      this.controls = new RequestQueue((f) => this.#session.host.request(f), (err) => this.#signalFailed(/** @type {Error} */ (err)), this.#signalRetry);
      if (!this.#room.joined) this.controls.outbox.hold();
    }
    return this.controls.send(frame);
  }

  /** What an auto room adds, wired to this room. */
  makeAuto() {
    const auto = new AutoRoom(
      this.#room.name,
      this.#room.ns,
      {
        self: () => this.#session.selfId ?? '',
        peers: () => this.#room.peers.keys(),
        link: (peer) => this.mesh.get(peer),
        ensureLink: (peer) => this.ensureLink(peer),
        closeLink: (peer) => this.closeLink(peer),
        sfu: () => this.sfu,
        openSfu: (admitted) => this.openSfu(admitted),
        closeSfu: () => this.closeSfu(),
        control: (frame) => this.control(frame),
        emit: (event, ...args) => this.#room.emit(event, ...args),
        setState: (peer, state) => this.#session.setState(peer, state),
        setConnectionType: (peer, type) => this.#session.setConnectionType(peer, /** @type {any} */ (type)),
        error: (err) => this.#session.error(err),
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
  openSfu(admitted) {
    const routes = this.routes;
    let link;
    try {
      link = this.slot.open(!this.#room.joined, admitted, (current) => ({
        iceServers: this.#session.host.iceServers,
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
        onServerError: (code, message) => this.#session.error(new SwitchboardError('sfu_error', `SFU: ${message || code} (${code})`)),
        onError: (err) => this.#session.error(new SwitchboardError('negotiation_failed', `SFU link: ${errorText(err)}`)),
      }));
    } catch (err) {
      this.#session.error(/** @type {Error} */ (err));
      return;
    }
    routes.sfuState(link.state);
    if (this.#session.localStream) link.publish(this.#session.localStream);
    for (const [peer, quality] of this.#session.quality) link.setQuality(peer, quality);
    for (const [peer, { width, height }] of this.#session.sizes?.sizes() ?? []) link.setSize(peer, width, height);
    this.slot.flushEarly();
  }

  closeSfu() {
    this.slot.close();
    this.#room.speakers = [];
  }
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

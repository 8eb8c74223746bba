// What an auto room adds to a Room (docs/protocol.md, "Auto rooms: switching
// between mesh and SFU"; docs/sdk.md, "Auto rooms"): it follows the server's
// mode frames, make before break. On a switch to the SFU it sends sfu-join
// and opens the SFU link while the mesh links keep running; on a switch back
// it opens mesh links while the SFU link keeps running. Each peer moves (its
// media shown from, and its data sent on, the new path) once the new path
// carries it; old paths close once both ends of a pair moved. The Room keeps
// making and closing the links; this class decides with a SwitchMachine
// (switch.js), numbers the data (dataseq.js) and keeps each peer's
// MediaStream (streams.js).

import { SeqReceiver, SeqSender } from './dataseq.js';
import { PeerStreams } from './streams.js';
import { SwitchMachine } from './switch.js';
import { decodeData } from './peer.js';

/**
 * How long (ms) an old path stays open at least after the switch is done
 * with it, so that what this side sent on it last (its FENCE among it) gets
 * through before it closes; a switch back meanwhile keeps it.
 */
export const LINGER = 2000;
/**
 * How long (ms) after LINGER an old path waits at most for the other side's
 * FENCE on it (what the other side sent there last) before it closes.
 */
export const LINGER_FENCE = 5000;

/**
 * @typedef {import('./switch.js').Path} Path
 * @typedef {import('./peer.js').PeerState} PeerState
 * @typedef {import('./stats.js').PeerStats} PeerStats
 * @typedef {import('./sfu.js').SfuLink} SfuLink
 * @typedef {import('./room.js').LinkLike} LinkLike
 *
 * @typedef {object} AutoOps what an auto room needs from its room (wired by RoomLinks.makeAuto, roomlinks.js)
 * @property {() => string} self own peer id
 * @property {() => Iterable<string>} peers the other peers' ids
 * @property {(peer: string) => LinkLike|undefined} link the mesh link to a peer
 * @property {(peer: string) => void} ensureLink makes the mesh link to a peer (if there is none)
 * @property {(peer: string) => void} closeLink closes the mesh link to a peer
 * @property {() => SfuLink|null} sfu the SFU link
 * @property {(admitted: Promise<unknown>) => void} openSfu makes the SFU link; its messages wait for admitted
 * @property {() => void} closeSfu closes the SFU link
 * @property {(frame: {type: string, [key: string]: any}) => Promise<any>} control
 *   sends sfu-join, sfu-leave or mode-ack (in order, held while the connection is down)
 * @property {(event: string, ...args: any[]) => void} emit
 * @property {(peer: string, state: PeerState) => void} setState
 * @property {(peer: string, type: string|null) => void} setConnectionType
 * @property {(err: Error) => void} error
 * @property {(info: {mode: Path, switch: number, failed: string[]}) => void} done this client finished a switch
 *
 * @typedef {object} AutoOptions
 * @property {typeof MediaStream} [MediaStream] constructor of the peers' streams
 * @property {(peer: string, path: Path, kinds: Set<string>) => boolean|Promise<boolean>} [mediaFlowing]
 *   whether the peer's media of these kinds arrives on path (default: inbound RTP in getStats), for tests
 * @property {import('./switch.js').SwitchOptions} [switching] deadlines, for tests
 * @property {Omit<import('./dataseq.js').ReceiverOptions, 'deliver'>} [receiving] bounds, for tests
 * @property {number} [linger] LINGER, for tests
 */

/** @implements {import('./routes.js').Routes} */
export class AutoRoom {
  #ops;
  #opts;
  /** @type {SwitchMachine} which path each peer is on, and the switch under way */
  machine;
  /** @type {SeqSender} */
  #sender;
  /** @type {SeqReceiver} */
  #receiver;
  /** @type {PeerStreams} one MediaStream per peer, whichever path */
  streams;
  /** @type {Map<string, any>} old paths about to close: a peer's mesh link, or '' the SFU */
  #closing = new Map();

  /**
   * @param {string} room
   * @param {string|undefined} ns
   * @param {AutoOps} ops
   * @param {AutoOptions} [opts]
   */
  constructor(room, ns, ops, opts = {}) {
    this.room = room;
    this.ns = ns;
    this.#ops = ops;
    this.#opts = opts;
    this.machine = new SwitchMachine(
      {
        self: ops.self,
        probe: (peer, path) => this.#probe(peer, path),
        move: (peer, path) => this.#move(peer, path),
        moveData: (peer, path) => this.#sender.setPath(peer, path),
        ack: (id, mode, failed) => this.#control({ type: 'mode-ack', switch: id, mode, ...(failed.length ? { failed } : {}) }),
        closeMesh: (peer) =>
          this.#linger(
            peer,
            () => !this.#receiver.takesFrom(peer, 'mesh'),
            () => {
              this.#receiver.closed(peer, 'mesh');
              ops.closeLink(peer);
            },
          ),
        leaveSfu: () =>
          this.#linger(
            '',
            () => ![...ops.peers()].some((p) => this.#receiver.takesFrom(p, 'sfu')),
            () => {
              this.#control({ type: 'sfu-leave' });
              this.#receiver.closed(null, 'sfu');
              ops.closeSfu();
            },
          ),
        done: (info) => ops.done(info),
      },
      opts.switching,
    );
    this.#sender = new SeqSender({
      mesh: (peer, bytes, reliable) => ops.link(peer)?.sendRaw(bytes, { reliable }) ?? false,
      sfu: (bytes, reliable) => ops.sfu()?.sendBytes(bytes, { reliable }) ?? false,
    });
    this.#receiver = new SeqReceiver({ ...opts.receiving, deliver: (peer, payload) => ops.emit('data', peer, decodeData(payload)) });
    this.streams = new PeerStreams(opts.MediaStream ?? globalThis.MediaStream, (event, peer, track, stream) => ops.emit(event, peer, track, stream));
  }

  /** The mode the room has switched to, or is switching to. */
  get target() {
    return this.machine.target;
  }

  /**
   * The room was joined in a new session: everything starts afresh on the
   * joined mode, every listed peer on it.
   * @param {number} id the joined's switch
   * @param {Path} mode
   * @param {Iterable<string>} peers
   */
  reset(id, mode, peers) {
    this.#receiver.close();
    this.streams.clear();
    const list = [...peers];
    this.machine.reset(id, mode, list);
    for (const p of list) this.#sender.setPath(p, mode);
  }

  /**
   * A mode frame, or a joined in the same session with a newer switch.
   * @param {number} id
   * @param {Path} mode
   */
  switchTo(id, mode) {
    if (!this.machine.start(id, mode)) return;
    // Paths about to close that the new switch needs stay.
    for (const [key, timer] of this.#closing) {
      if ((key === '') === (mode === 'sfu')) {
        clearTimeout(timer);
        this.#closing.delete(key);
      }
    }
    // The new path beside the old one; the machine moves the peers onto it.
    if (mode === 'sfu') this.#joinSfu();
    else for (const p of this.#ops.peers()) this.#ops.ensureLink(p);
    this.machine.check();
  }

  /**
   * Another member's mode-ack.
   * @param {{from?: unknown, switch?: unknown, mode?: unknown, failed?: unknown}} frame
   */
  acked(frame) {
    if (typeof frame.from !== 'string' || typeof frame.switch !== 'number') return;
    const failed = Array.isArray(frame.failed) ? frame.failed.filter((p) => typeof p === 'string') : [];
    this.machine.ack(frame.from, frame.switch, frame.mode === 'sfu' ? 'sfu' : 'mesh', failed);
  }

  /**
   * A peer joined: it is on the room's current path from the start.
   * @param {string} peer
   */
  added(peer) {
    this.machine.add(peer);
    this.#sender.setPath(peer, this.machine.pathOf(peer));
  }

  /**
   * A peer left.
   * @param {string} peer
   */
  removed(peer) {
    clearTimeout(this.#closing.get(peer));
    this.#closing.delete(peer);
    this.machine.remove(peer);
    this.#sender.forget(peer);
    this.#receiver.forget(peer);
    this.streams.drop(peer);
  }

  /**
   * Whether a mesh link to a peer is wanted: while the room is (going) a
   * mesh. A signal for a link that exists is always taken.
   * @param {string} peer
   */
  wantsMesh(peer) {
    return this.machine.target === 'mesh' || this.#ops.link(peer) !== undefined;
  }

  /**
   * Data for every peer.
   * @param {import('./dataseq.js').Message} message
   * @param {boolean} reliable
   */
  send(message, reliable) {
    return this.#sender.send(message, this.#ops.peers(), reliable);
  }

  /**
   * Data for one peer.
   * @param {string} peer
   * @param {import('./dataseq.js').Message} message
   * @param {boolean} reliable
   */
  sendTo(peer, message, reliable) {
    return this.#sender.sendTo(peer, message, reliable);
  }

  /**
   * The path a peer is reached on.
   * @param {string} peer
   */
  pathOf(peer) {
    return this.machine.pathOf(peer);
  }

  /**
   * The connection a peer's media comes through now.
   * @param {string} peer
   * @returns {RTCPeerConnection|undefined}
   */
  connection(peer) {
    return this.pathOf(peer) === 'sfu' ? this.#ops.sfu()?.sub : this.#ops.link(peer)?.pc;
  }

  /**
   * Statistics of the path a peer is reached on.
   * @param {string} peer
   * @returns {Promise<PeerStats|null>}
   */
  async getStats(peer) {
    if (this.pathOf(peer) === 'sfu') return this.#ops.sfu()?.getStats(peer) ?? null;
    return this.#ops.link(peer)?.getStats?.() ?? null;
  }

  /**
   * The state of a peer's current path.
   * @param {string} peer
   * @returns {PeerState}
   */
  stateOf(peer) {
    if (this.pathOf(peer) === 'sfu') return this.#ops.sfu()?.state ?? 'connecting';
    return this.#ops.link(peer)?.state ?? 'connecting';
  }

  // ---- what the links report (the room's Routes, routes.js) -----------------

  /**
   * A mesh link's remote track came or went.
   * @param {string} peer
   * @param {MediaStreamTrack} track
   * @param {MediaStream} _stream the link's own
   * @param {boolean} live
   */
  meshTrack(peer, track, _stream, live) {
    this.#track('mesh', peer, track, live);
  }

  /**
   * An SFU track came or went.
   * @param {string} peer
   * @param {MediaStreamTrack} track
   * @param {MediaStream} _stream the link's own
   * @param {boolean} live
   */
  sfuTrack(peer, track, _stream, live) {
    this.#track('sfu', peer, track, live);
  }

  /**
   * A track of a path came or went: the peer's stream follows it while the
   * peer is on that path; a switch may be waiting for it.
   * @param {Path} path
   * @param {string} peer
   * @param {MediaStreamTrack} track
   * @param {boolean} live
   */
  #track(path, peer, track, live) {
    if (this.pathOf(peer) === path) {
      if (live) this.streams.add(peer, track);
      else this.streams.remove(peer, track);
    }
    this.machine.check();
  }

  /**
   * A mesh link's state changed.
   * @param {string} peer
   * @param {PeerState} state
   */
  meshState(peer, state) {
    if (state === 'closed') this.#receiver.closed(peer, 'mesh');
    if (this.pathOf(peer) === 'mesh') this.#ops.setState(peer, state);
    this.machine.check();
  }

  /**
   * A mesh link's candidate pair changed type: the peer's PeerInfo says so
   * while the peer is on the mesh.
   * @param {string} peer
   * @param {string|null} type
   */
  meshType(peer, type) {
    if (this.pathOf(peer) === 'mesh') this.#ops.setConnectionType(peer, type);
  }

  /**
   * Whether the peer's PeerInfo follows its mesh link now.
   * @param {string} peer
   */
  showsMesh(peer) {
    return this.pathOf(peer) === 'mesh';
  }

  /**
   * The SFU link's state changed.
   * @param {PeerState} state
   */
  sfuState(state) {
    if (state === 'closed') this.#receiver.closed(null, 'sfu');
    for (const p of this.#ops.peers()) if (this.pathOf(p) === 'sfu') this.#ops.setState(p, state);
    this.machine.check();
  }

  /**
   * A message on a mesh link.
   * @param {string} peer
   * @param {unknown} raw
   */
  meshMessage(peer, raw) {
    this.#receiver.receive('mesh', peer, raw);
  }

  /**
   * A message through the SFU.
   * @param {unknown} raw
   */
  sfuMessage(raw) {
    this.#receiver.receive('sfu', null, raw);
  }

  /** The room is closed: timers stop, tracks end. */
  close() {
    for (const timer of this.#closing.values()) clearTimeout(timer);
    this.#closing.clear();
    this.machine.close();
    this.#receiver.close();
    this.streams.clear();
  }

  // ---- inside ---------------------------------------------------------------

  /**
   * Closes an old path after LINGER, once fenced() says the other side's
   * last messages on it are in (at most LINGER_FENCE later).
   * @param {string} key the peer of a mesh link, '' for the SFU
   * @param {() => boolean} fenced
   * @param {() => void} close
   */
  #linger(key, fenced, close) {
    if (this.#closing.has(key)) return;
    const linger = this.#opts.linger ?? LINGER;
    const until = Date.now() + linger + LINGER_FENCE;
    const step = () => {
      if (!fenced() && Date.now() < until) {
        this.#closing.set(key, setTimeout(step, Math.max(linger / 4, 50)));
        return;
      }
      this.#closing.delete(key);
      close();
    };
    this.#closing.set(key, setTimeout(step, linger));
  }

  /** sfu-join, then the SFU link, whose messages wait for the join's ack. */
  #joinSfu() {
    if (this.#ops.sfu()) return;
    const admitted = this.#control({ type: 'sfu-join' });
    this.#ops.openSfu(admitted);
    const link = this.#ops.sfu();
    // Refused (a limit; the room's error event says so, as for any control
    // frame): no SFU link, and the peers fail at the deadline.
    admitted.catch(() => {
      if (link && this.#ops.sfu() === link) this.#ops.closeSfu();
    });
  }

  /**
   * @param {{type: string, [key: string]: any}} frame
   * @returns {Promise<any>}
   */
  #control(frame) {
    const p = this.#ops.control({ ...frame, room: this.room, ...(this.ns !== undefined ? { ns: this.ns } : {}) });
    p.catch(() => {}); // reported by the control outbox
    return p;
  }

  /**
   * The tracks a peer sends on a path now.
   * @param {string} peer
   * @param {Path} path
   * @returns {MediaStreamTrack[]}
   */
  #tracks(peer, path) {
    const stream = path === 'sfu' ? this.#ops.sfu()?.remoteStream(peer) : this.#ops.link(peer)?.remoteStream;
    return stream?.getTracks() ?? [];
  }

  /**
   * Whether a peer can move to path: its data channel there is open and
   * every kind of media it sends on the other path arrives there too.
   * @param {string} peer
   * @param {Path} path
   */
  #probe(peer, path) {
    if (path === 'sfu' ? this.#ops.sfu()?.state !== 'connected' : this.#ops.link(peer)?.state !== 'connected') return false;
    const want = new Set(this.#tracks(peer, path === 'sfu' ? 'mesh' : 'sfu').map((t) => t.kind));
    if (want.size === 0) return true;
    const have = new Set(this.#tracks(peer, path).map((t) => t.kind));
    for (const k of want) if (!have.has(k)) return false;
    if (this.#opts.mediaFlowing) return this.#opts.mediaFlowing(peer, path, want);
    return this.#flowing(peer, path, want);
  }

  /**
   * Whether media of every kind arrives on path (frames or packets in the
   * inbound RTP statistics).
   * @param {string} peer
   * @param {Path} path
   * @param {Set<string>} kinds
   */
  async #flowing(peer, path, kinds) {
    const stats = path === 'sfu' ? await this.#ops.sfu()?.getStats(peer) : await this.#ops.link(peer)?.getStats?.();
    if (!stats) return false;
    if (kinds.has('video') && !((stats.video?.framesDecoded ?? 0) > 0)) return false;
    if (kinds.has('audio') && !((stats.audio?.packetsReceived ?? 0) > 0)) return false;
    return true;
  }

  /**
   * The machine moved a peer: its stream shows path's tracks, its PeerInfo
   * follows (its data moves with moveData).
   * @param {string} peer
   * @param {Path} path
   */
  #move(peer, path) {
    this.streams.show(peer, this.#tracks(peer, path));
    this.#ops.setState(peer, this.stateOf(peer));
    this.#ops.setConnectionType(peer, path === 'sfu' ? 'sfu' : (this.#ops.link(peer)?.connectionType ?? null));
  }
}

// The per-peer path machine of an auto room (docs/protocol.md, "Auto rooms:
// switching between mesh and SFU"): which path (mesh link or SFU) each peer
// is reached on, and how a switch moves the peers one by one, make before
// break. The room makes and closes the links; this machine only decides,
// through the SwitchHost callbacks: when a peer moves (its new path carries
// its media and data), when to send mode-ack, when an old path may close,
// and which peers failed to move in time. No WebRTC: it runs under Node.

/** How long (ms) a switch may take before the peers not moved are failed. */
export const SWITCH_DEADLINE = 10000;
/** How often (ms) peers not moved yet are probed again while a switch runs. */
export const PROBE_INTERVAL = 200;

/**
 * @typedef {'mesh'|'sfu'} Path
 *
 * @typedef {object} Ack a peer's mode-ack
 * @property {number} id the switch it acknowledges
 * @property {Path} mode
 * @property {string[]} failed the peers it still reaches on the other path
 *
 * @typedef {object} SwitchHost what the machine needs from its room
 * @property {() => string} self own peer id
 * @property {(peer: string, path: Path) => boolean|Promise<boolean>} probe
 *   whether the peer's media (if it publishes) arrives on path and the data channel there is open
 * @property {(peer: string, path: Path) => void} move show the peer's media from path
 * @property {(peer: string, path: Path) => void} moveData send the peer's data on path (a FENCE on the old one)
 * @property {(id: number, mode: Path, failed: string[]) => void} ack send mode-ack
 * @property {(peer: string) => void} closeMesh the mesh link to peer is no longer needed
 * @property {() => void} leaveSfu the SFU is no longer needed: sfu-leave, close the SFU link
 * @property {(info: {mode: Path, switch: number, failed: string[]}) => void} done this client finished switch id
 *
 * @typedef {object} SwitchOptions
 * @property {number} [deadline] SWITCH_DEADLINE, for tests
 * @property {number} [probeInterval] PROBE_INTERVAL, for tests
 */

export class SwitchMachine {
  /** The latest switch: 0 before the first. */
  id = 0;
  /** @type {Path} the mode the room is switching (or has switched) to */
  target = 'mesh';
  /** Whether this client has sent its mode-ack for the latest switch (or there is none). */
  acked = true;
  /** @type {Map<string, Path>} the path each peer is reached on */
  #paths = new Map();
  /** @type {Set<string>} peers the latest switch must move (there when it began, not moved yet) */
  #pending = new Set();
  /** @type {Set<string>} peers there when it began: their mode-acks count */
  #members = new Set();
  /** @type {Set<string>} peers given up on: not moved by the deadline, or they could not move to us */
  #failed = new Set();
  /** @type {Map<string, Ack>} each peer's latest mode-ack */
  #acks = new Map();
  /** @type {Set<string>} probes under way */
  #probing = new Set();
  /** @type {any} */ #deadline = null;
  /** @type {any} */ #ticker = null;
  #sfuLeft = false;
  #closed = false;
  #host;
  #opts;

  /**
   * @param {SwitchHost} host
   * @param {SwitchOptions} [opts]
   */
  constructor(host, opts = {}) {
    this.#host = host;
    this.#opts = opts;
  }

  /**
   * Where the machine starts: the room's mode and switch from its joined,
   * every peer already on that path.
   * @param {number} id
   * @param {Path} mode
   * @param {Iterable<string>} peers
   */
  reset(id, mode, peers) {
    this.#stop();
    this.id = id;
    this.target = mode;
    this.acked = true;
    this.#sfuLeft = mode === 'mesh';
    this.#paths.clear();
    this.#pending.clear();
    this.#members.clear();
    this.#failed.clear();
    this.#acks.clear();
    for (const p of peers) this.#paths.set(p, mode);
  }

  /**
   * The path a peer is reached on now.
   * @param {string} peer
   * @returns {Path}
   */
  pathOf(peer) {
    return this.#paths.get(peer) ?? this.target;
  }

  /** Whether a switch is under way (this client has not acked it yet). */
  get switching() {
    return !this.acked;
  }

  /**
   * A mode frame: switch id to mode. An older or repeated id changes
   * nothing; a newer one supersedes the switch under way.
   * @param {number} id
   * @param {Path} mode
   * @returns {boolean} whether it started a switch
   */
  start(id, mode) {
    if (this.#closed || id <= this.id) return false;
    this.#stop();
    this.id = id;
    this.target = mode;
    this.acked = false;
    this.#sfuLeft = false;
    this.#pending.clear();
    this.#members.clear();
    this.#failed.clear();
    for (const [peer, path] of this.#paths) {
      this.#members.add(peer);
      if (path !== mode) this.#pending.add(peer);
    }
    this.#deadline = setTimeout(() => this.#expire(), this.#opts.deadline ?? SWITCH_DEADLINE);
    this.#ticker = setInterval(() => this.check(), this.#opts.probeInterval ?? PROBE_INTERVAL);
    this.check();
    return true;
  }

  /**
   * A peer joined: it is on the room's current target from the start
   * (after a mode frame a joiner goes straight to the new path).
   * @param {string} peer
   */
  add(peer) {
    if (!this.#paths.has(peer)) this.#paths.set(peer, this.target);
  }

  /**
   * A peer left: nothing waits for it any more.
   * @param {string} peer
   */
  remove(peer) {
    this.#paths.delete(peer);
    this.#pending.delete(peer);
    this.#members.delete(peer);
    this.#failed.delete(peer);
    this.#acks.delete(peer);
    this.#probing.delete(peer);
    this.check();
  }

  /**
   * A peer's mode-ack (relayed by the server).
   * @param {string} peer
   * @param {number} id
   * @param {Path} mode
   * @param {string[]} failed
   */
  ack(peer, id, mode, failed) {
    const last = this.#acks.get(peer);
    if (last && last.id > id) return;
    this.#acks.set(peer, { id, mode, failed });
    this.check();
  }

  /**
   * Looks again at every peer not moved yet (the room calls it when a link
   * or a track changed; a timer does while a switch runs).
   */
  check() {
    if (this.#closed) return;
    const self = this.#host.self();
    for (const peer of this.#pending) {
      if (this.#probing.has(peer)) continue;
      let ready;
      try {
        ready = this.#host.probe(peer, this.target);
      } catch {
        ready = false;
      }
      if (ready === true) this.#moved(peer);
      else if (ready !== false) {
        this.#probing.add(peer);
        const id = this.id;
        ready.then(
          (ok) => {
            if (!this.#probing.delete(peer) || id !== this.id) return;
            if (ok && this.#pending.has(peer)) this.#moved(peer);
            this.#settle(self);
          },
          () => this.#probing.delete(peer),
        );
      }
    }
    this.#settle(self);
  }

  /** Stops the timers for good (the room is closed or starts afresh). */
  close() {
    this.#closed = true;
    this.#stop();
  }

  /**
   * The peer's media arrives on the new path: show it from there. Data to
   * it moves at once to a mesh link (a link whose channel is open is open
   * at both ends), but to the SFU only once the peer's mode-ack says it
   * moved too: the SFU can relay to the peer only once the peer's own
   * channel with it is open, which its media reaching us does not prove.
   * @param {string} peer
   */
  #moved(peer) {
    this.#pending.delete(peer);
    this.#paths.set(peer, this.target);
    this.#host.move(peer, this.target);
    if (this.target === 'mesh') this.#host.moveData(peer, 'mesh');
  }

  /**
   * Acks once nothing is pending; follows the others' acks: a peer that
   * could not move to us keeps the old path with us, and old paths close
   * once both ends of a pair are on the new one.
   * @param {string} self
   */
  #settle(self) {
    const old = this.target === 'sfu' ? 'mesh' : 'sfu';
    // The pair rule: a peer whose ack names us stays (or goes back) on the old path.
    for (const [peer, a] of this.#acks) {
      if (a.id !== this.id || !a.failed.includes(self) || !this.#paths.has(peer)) continue;
      this.#pending.delete(peer);
      this.#failed.add(peer);
      if (this.#paths.get(peer) !== old) {
        this.#paths.set(peer, old);
        this.#host.move(peer, old);
      }
      this.#host.moveData(peer, old);
    }
    if (!this.acked && this.#pending.size === 0) this.#sendAck();
    if (this.target === 'sfu') {
      // Both ends of the pair moved: data follows, the mesh link may go.
      for (const peer of this.#members) {
        if (this.#paths.get(peer) === 'sfu' && this.#ackedClean(peer, self)) {
          this.#members.delete(peer);
          this.#host.moveData(peer, 'sfu');
          this.#host.closeMesh(peer);
        }
      }
    } else if (this.acked && !this.#sfuLeft) {
      const all = [...this.#paths.values()].every((p) => p === 'mesh') && [...this.#members].every((p) => this.#ackedClean(p, self));
      if (all) {
        this.#sfuLeft = true;
        this.#host.leaveSfu();
      }
    }
    if (this.#pending.size === 0) this.#stopTicker();
  }

  /**
   * Whether peer acked the latest switch without naming self in failed.
   * @param {string} peer
   * @param {string} self
   */
  #ackedClean(peer, self) {
    const a = this.#acks.get(peer);
    return !!a && a.id === this.id && a.mode === this.target && !a.failed.includes(self);
  }

  #sendAck() {
    this.acked = true;
    clearTimeout(this.#deadline);
    this.#deadline = null;
    const failed = [...this.#failed].filter((p) => this.#paths.has(p));
    this.#host.ack(this.id, this.target, failed);
    this.#host.done({ mode: this.target, switch: this.id, failed });
  }

  /** The deadline passed: the peers not moved are failed and stay on the old path. */
  #expire() {
    this.#deadline = null;
    if (this.acked) return;
    for (const peer of this.#pending) this.#failed.add(peer);
    this.#pending.clear();
    this.#probing.clear();
    this.#settle(this.#host.self());
  }

  #stopTicker() {
    clearInterval(this.#ticker);
    this.#ticker = null;
  }

  #stop() {
    clearTimeout(this.#deadline);
    this.#deadline = null;
    this.#stopTicker();
    this.#probing.clear();
  }
}

// Data across a switch (docs/protocol.md, "Data across a switch"): in auto
// rooms every data channel message is an envelope, and reliable ones are
// numbered per room so that a receiver gets each sender's messages once and
// in order while the sender moves it from one path (mesh link or SFU) to the
// other. SeqSender numbers, picks each receiver's path and sends the FENCE
// when it moves one; SeqReceiver holds what comes on a sender's new path
// until the old path's FENCE. Pure: no WebRTC, it runs under Node.

import { decodeEnvelope, encodeEnvelope, encodeFence } from './envelope.js';

/** How long (ms) messages on a sender's new path wait for the old path's FENCE. */
export const FENCE_WAIT = 5000;
/** Messages that may wait per sender; beyond that the oldest are delivered. */
export const MAX_WAITING = 1000;
/** Bytes that may wait per sender; beyond that the oldest are delivered. */
export const MAX_WAITING_BYTES = 4 * 1024 * 1024;
/** Numbers remembered per sender to drop duplicates (a broadcast may come on both paths). */
const SEEN_WINDOW = 4096;

/**
 * @typedef {'mesh'|'sfu'} Path
 * @typedef {string|ArrayBuffer|ArrayBufferView|Blob} Message what encodeData makes
 *
 * @typedef {object} SenderPaths how a SeqSender reaches receivers
 * @property {(peer: string, bytes: Uint8Array, reliable: boolean) => boolean} mesh
 *   sends on the mesh link to peer; false when its channel is not open
 * @property {(bytes: Uint8Array, reliable: boolean) => boolean} sfu
 *   sends through the SFU (the envelope names the target); false when its channel is not open
 */

/**
 * The sending half: one counter per room for reliable messages, one path
 * per receiver.
 */
export class SeqSender {
  #seq = 0;
  /** @type {Map<string, Path>} */
  #paths = new Map();
  #out;

  /** @param {SenderPaths} out */
  constructor(out) {
    this.#out = out;
  }

  /** The number of the last reliable message. */
  get seq() {
    return this.#seq;
  }

  /**
   * The path data to a peer takes.
   * @param {string} peer
   * @returns {Path|undefined}
   */
  pathOf(peer) {
    return this.#paths.get(peer);
  }

  /**
   * Sends to peer on path from now on. Moving it from another path first
   * sends a FENCE there with the number of the last message, so the peer
   * knows when that path has nothing more of ours.
   * @param {string} peer
   * @param {Path} path
   */
  setPath(peer, path) {
    const old = this.#paths.get(peer);
    if (old === path) return;
    this.#paths.set(peer, path);
    if (old === undefined) return;
    try {
      if (old === 'mesh') this.#out.mesh(peer, encodeFence(this.#seq, null), true);
      else this.#out.sfu(encodeFence(this.#seq, peer), true);
    } catch {
      // A path that is going away may refuse: the receiver stops waiting
      // when that path closes, or after FENCE_WAIT.
    }
  }

  /** @param {string} peer */
  forget(peer) {
    this.#paths.delete(peer);
  }

  /**
   * Sends to every peer: on the SFU once if any peer is reached there, and
   * on the mesh link of every peer still on the mesh. Throws what
   * encodeEnvelope and the channels throw.
   * @param {Message} message
   * @param {Iterable<string>} peers every other peer of the room
   * @param {boolean} reliable
   * @returns {number} how many peers it was sent to
   */
  send(message, peers, reliable) {
    const seq = reliable ? ++this.#seq : undefined;
    const opts = seq === undefined ? undefined : { seq };
    const onMesh = [];
    let onSfu = 0;
    for (const p of peers) {
      const path = this.#paths.get(p);
      if (path === 'sfu') onSfu++;
      else if (path === 'mesh') onMesh.push(p);
    }
    let sent = 0;
    if (onSfu > 0 && this.#out.sfu(encodeEnvelope(message, null, opts), reliable)) sent += onSfu;
    if (onMesh.length > 0) {
      const bytes = encodeEnvelope(message, null, opts);
      for (const p of onMesh) if (this.#out.mesh(p, bytes, reliable)) sent++;
    }
    return sent;
  }

  /**
   * Sends to one peer on its path.
   * @param {string} peer
   * @param {Message} message
   * @param {boolean} reliable
   */
  sendTo(peer, message, reliable) {
    const path = this.#paths.get(peer);
    if (path === undefined) return false;
    const opts = reliable ? { seq: ++this.#seq } : {};
    if (path === 'sfu') return this.#out.sfu(encodeEnvelope(message, peer, opts), reliable);
    return this.#out.mesh(peer, encodeEnvelope(message, null, { ...opts, directed: true }), reliable);
  }
}

/**
 * @typedef {object} Waiting a message (or FENCE) from the path not taken now
 * @property {number} seq
 * @property {string|ArrayBuffer|null} payload null for a FENCE
 * @property {number} size bytes
 *
 * @typedef {object} SenderState
 * @property {Path|null} current the path this sender's messages are taken from now; null before the first
 * @property {Waiting[]} held what came on the other path, in the order it came
 * @property {number} bytes their size
 * @property {any} timer FENCE_WAIT of the first held message
 * @property {boolean} oldSpoke the current path delivered something while messages were held
 * @property {Set<number>} seen numbers delivered above floor
 * @property {number} floor every number up to it counts as delivered
 *
 * @typedef {object} ReceiverOptions
 * @property {(peer: string, payload: string|ArrayBuffer) => void} deliver
 * @property {number} [fenceWait] FENCE_WAIT, for tests
 * @property {number} [maxWaiting] MAX_WAITING, for tests
 * @property {number} [maxWaitingBytes] MAX_WAITING_BYTES, for tests
 */

/**
 * The receiving half: each sender's messages once and in number order. A
 * sender's messages are taken from one path at a time (the first one they
 * came on); what comes on the other path waits, in the order it came, until
 * the current path's FENCE (the sender moved us), until the current path
 * closes, or for FENCE_WAIT. Then the other path is current and what waited
 * is taken in order, FENCEs included: a sender that moved us back and forth
 * faster than the slower path carries its FENCEs is followed step by step.
 */
export class SeqReceiver {
  /** @type {Map<string, SenderState>} */
  #senders = new Map();
  #opts;

  /** @param {ReceiverOptions} opts */
  constructor(opts) {
    this.#opts = opts;
  }

  /**
   * A message from a mesh link (anonymous envelope) or the SFU (the
   * envelope names the sender). False when it is not an envelope.
   * @param {Path} path
   * @param {string|null} peer the sender on a mesh link; null on the SFU
   * @param {unknown} raw
   */
  receive(path, peer, raw) {
    const env = decodeEnvelope(raw, { seq: true, anonymous: peer !== null });
    if (!env) return false;
    const from = peer ?? env.peer;
    if (env.seq === undefined) {
      // Unreliable: no number, no promise across a switch.
      this.#opts.deliver(from, env.payload);
      return true;
    }
    const s = this.#state(from);
    s.current ??= path;
    const payload = env.fence ? null : env.payload;
    if (path === s.current) {
      if (payload === null) {
        // The sender moved us off this path: the other one is current now.
        this.#switchTo(from, s);
      } else {
        if (s.held.length > 0) s.oldSpoke = true;
        this.#deliver(from, s, env.seq, payload);
      }
    } else {
      this.#hold(from, s, env.seq, payload);
    }
    return true;
  }

  /**
   * A path to a peer closed (a mesh link), or to every peer (peer null: the
   * SFU): senders whose messages came on it take the other path now;
   * what waited on it is delivered.
   * @param {string|null} peer
   * @param {Path} path
   */
  closed(peer, path) {
    for (const [from, s] of this.#senders) {
      if (peer !== null && peer !== from) continue;
      if (s.current === path) this.#switchTo(from, s);
      else if (s.current !== null && s.held.length > 0) this.#flush(from, s);
    }
  }

  /**
   * Whether this sender's messages are still taken from path (no FENCE has
   * moved us off it): closing path now could lose what it sent last.
   * @param {string} peer
   * @param {Path} path
   */
  takesFrom(peer, path) {
    return this.#senders.get(peer)?.current === path;
  }

  /**
   * The peer left: forget it.
   * @param {string} peer
   */
  forget(peer) {
    const s = this.#senders.get(peer);
    if (s) clearTimeout(s.timer);
    this.#senders.delete(peer);
  }

  /** Drops everything (the room is closed, or a new session starts). */
  close() {
    for (const s of this.#senders.values()) clearTimeout(s.timer);
    this.#senders.clear();
  }

  /** @param {string} peer */
  #state(peer) {
    let s = this.#senders.get(peer);
    if (!s) {
      s = { current: null, held: [], bytes: 0, timer: null, oldSpoke: false, seen: new Set(), floor: 0 };
      this.#senders.set(peer, s);
    }
    return s;
  }

  /**
   * Keeps what came on the path not taken now, within the bounds.
   * @param {string} from
   * @param {SenderState} s
   * @param {number} seq
   * @param {string|ArrayBuffer|null} payload
   */
  #hold(from, s, seq, payload) {
    if (payload !== null && this.#done(s, seq)) return;
    const size = payload === null ? 0 : typeof payload === 'string' ? payload.length * 2 : payload.byteLength;
    s.held.push({ seq, payload, size });
    s.bytes += size;
    s.timer ??= setTimeout(() => this.#timedOut(from, s), this.#opts.fenceWait ?? FENCE_WAIT);
    const max = this.#opts.maxWaiting ?? MAX_WAITING;
    const maxBytes = this.#opts.maxWaitingBytes ?? MAX_WAITING_BYTES;
    while (s.held.length > max || (s.bytes > maxBytes && s.held.length > 0)) {
      const oldest = /** @type {Waiting} */ (s.held.shift());
      s.bytes -= oldest.size;
      if (oldest.payload !== null) this.#deliver(from, s, oldest.seq, oldest.payload);
    }
    if (s.held.length === 0) this.#stopTimer(s);
  }

  /**
   * FENCE_WAIT passed without a FENCE. When the current path went quiet
   * meanwhile, the sender has moved (its FENCE was lost): take the other
   * path from now on. When it kept delivering, the sender still uses it for
   * us and what waited were copies of broadcasts: they are dropped as
   * delivered already.
   * @param {string} from
   * @param {SenderState} s
   */
  #timedOut(from, s) {
    s.timer = null;
    if (this.#senders.get(from) !== s) return;
    if (s.oldSpoke) this.#flush(from, s);
    else this.#switchTo(from, s);
  }

  /**
   * The other path is current now: what waited on it is taken in the order
   * it came, up to its own FENCE if there is one (which switches back, and
   * so on); what is left waits on.
   * @param {string} from
   * @param {SenderState} s
   */
  #switchTo(from, s) {
    this.#stopTimer(s);
    s.current = other(/** @type {Path} */ (s.current));
    const held = s.held;
    s.held = [];
    s.bytes = 0;
    const fence = held.findIndex((m) => m.payload === null);
    // One path keeps its order: sorting changes nothing but a sender's bug.
    const take = (fence < 0 ? held : held.slice(0, fence)).sort((x, y) => x.seq - y.seq);
    for (const m of take) this.#deliver(from, s, m.seq, /** @type {string|ArrayBuffer} */ (m.payload));
    if (fence < 0) return;
    // That path is done too: back to the first one (nothing of it waits: it
    // was current meanwhile); what came after this FENCE waits again.
    s.current = other(s.current);
    for (const m of held.slice(fence + 1)) this.#hold(from, s, m.seq, m.payload);
  }

  /**
   * Delivers what waits, in number order, without changing path.
   * @param {string} from
   * @param {SenderState} s
   */
  #flush(from, s) {
    this.#stopTimer(s);
    const held = s.held.filter((m) => m.payload !== null).sort((a, b) => a.seq - b.seq);
    s.held = [];
    s.bytes = 0;
    for (const m of held) this.#deliver(from, s, m.seq, /** @type {string|ArrayBuffer} */ (m.payload));
  }

  /** @param {SenderState} s */
  #stopTimer(s) {
    clearTimeout(s.timer);
    s.timer = null;
    s.oldSpoke = false;
  }

  /**
   * Whether a number was delivered already.
   * @param {SenderState} s
   * @param {number} seq
   */
  #done(s, seq) {
    return seq <= s.floor || s.seen.has(seq);
  }

  /**
   * Delivers a message unless its number was delivered already.
   * @param {string} from
   * @param {SenderState} s
   * @param {number} seq
   * @param {string|ArrayBuffer} payload
   */
  #deliver(from, s, seq, payload) {
    if (this.#done(s, seq)) return;
    s.seen.add(seq);
    if (s.seen.size > 2 * SEEN_WINDOW) {
      const sorted = [...s.seen].sort((a, b) => a - b);
      s.floor = sorted[sorted.length - SEEN_WINDOW - 1];
      s.seen = new Set(sorted.slice(sorted.length - SEEN_WINDOW));
    }
    this.#opts.deliver(from, payload);
  }
}

/** @param {Path} path @returns {Path} */
function other(path) {
  return path === 'mesh' ? 'sfu' : 'mesh';
}

// Session resume as the client sees it: the token that resumes the session
// and how long the server keeps it, the replay of what a resumed session
// missed (and what goes again once it is through), the rooms joined when the
// connection dropped, and the confirm frames that tell the server what the
// app has processed. The connection (connection.js) decides when; this keeps
// the bookkeeping. Nothing here touches the DOM.

import { confirm, encode, leave } from './protocol.js';
import { sendOpen } from './socket.js';

/**
 * How long after a lost connection a resume may still work, beyond the
 * server's grace period: the server may notice the loss later than the
 * client (it drops a silent connection after 30 s).
 */
const RESUME_SLACK = 30000;

/**
 * At most this often (milliseconds) the client tells the server which
 * frames its app has processed (a confirm frame), so that the server keeps
 * only what a resume may need.
 */
const CONFIRM_DELAY = 250;

/**
 * @typedef {import('./room.js').Room} Room
 *
 * @typedef {object} ResumeHost what a resume needs from its connection
 * @property {() => WebSocket|null} ws the current socket
 * @property {import('./protocol.js').Requests} requests the requests waiting for replies
 * @property {Map<string, Room>} rooms the Switchboard's rooms, by roomKey
 * @property {import('./switchboard.js').Switchboard} sb its lastSeq, connected and request()
 * @property {(reason: string) => void} drop gives up on the socket
 */

export class SessionResume {
  /** @type {string|null} resumes the session once; from the last welcome */
  token = null;
  /** the server's grace period for a resume, in milliseconds */
  grace = 0;
  /** after this time (Date.now()) the session cannot be resumed any more */
  #deadline = 0;
  /** whether the hello of the current connection tried to resume */
  tried = false;
  /** @type {number|null} while a resumed session replays what it missed: the seq of its last frame */
  replayUntil = null;
  /** @type {Map<string, Room>} rooms joined when the connection dropped (the server keeps them) */
  #joinedAtCut = new Map();
  /** the last seq a confirm frame told the server */
  #confirmedSeq = 0;
  /** @type {any} */ #confirmTimer = null;
  #host;

  /** @param {ResumeHost} host */
  constructor(host) {
    this.#host = host;
  }

  /** Whether there is a session to resume whose grace period is over (it is gone). */
  expired() {
    return this.token !== null && Date.now() > this.#deadline;
  }

  /**
   * The connection dropped with a session to resume: the server keeps it,
   * and its rooms, for a while.
   */
  cut() {
    for (const [key, room] of this.#host.rooms) if (room.joined) this.#joinedAtCut.set(key, room);
    this.#deadline = Date.now() + this.grace + RESUME_SLACK;
  }

  /** The session cannot be resumed any more. */
  forget() {
    this.token = null;
    this.#joinedAtCut.clear();
  }

  /** A new session: nothing confirmed yet, no rooms of the old one. */
  newSession() {
    this.#confirmedSeq = 0;
    this.#joinedAtCut.clear();
  }

  /**
   * A resumed session's replay is through: every request still without a
   * reply never reached the server, so it goes again (once, in order, the
   * requests held during the replay after them); rooms left while away are
   * left on the server; the rooms carry on.
   */
  replayDone() {
    this.replayUntil = null;
    const ws = /** @type {WebSocket} */ (this.#host.ws());
    for (const frame of this.#host.requests.resend()) {
      let text;
      try {
        text = encode(frame);
      } catch (err) {
        this.#host.requests.cancel(frame.id, /** @type {Error} */ (err));
        continue;
      }
      try {
        sendOpen(ws, text);
      } catch (err) {
        // A broken socket: the next resume sends what is left.
        this.#host.drop(`send failed: ${errorText(err)}`);
        return;
      }
    }
    const joined = [...this.#joinedAtCut];
    this.#joinedAtCut.clear();
    for (const [key, room] of joined) {
      if (this.#host.rooms.get(key) !== room) this.#host.sb.request(leave(room.name, room.ns)).catch(() => {});
    }
    for (const room of [...this.#host.rooms.values()]) {
      if (ws !== this.#host.ws()) return; // a listener disconnected
      room._resumed();
    }
  }

  /**
   * Tells the server what the app has processed: it keeps frames for a
   * resume until then (a pong proves only that the socket has them, and a
   * browser drops what it has not dispatched when the socket is closed).
   * @param {WebSocket} ws
   */
  sendConfirm(ws) {
    if (ws !== this.#host.ws() || !this.#host.sb.connected || this.#host.sb.lastSeq <= this.#confirmedSeq) return;
    const text = encode(confirm(this.#host.sb.lastSeq));
    try {
      sendOpen(ws, text);
    } catch {
      return; // a closing or broken socket: the heartbeat notices
    }
    this.#confirmedSeq = this.#host.sb.lastSeq;
  }

  /**
   * Sends a confirm frame in a moment (at most every CONFIRM_DELAY) when
   * frames were processed since the last one.
   * @param {WebSocket} ws
   */
  confirmSoon(ws) {
    if (this.#confirmTimer === null && this.#host.sb.lastSeq > this.#confirmedSeq) {
      this.#confirmTimer = setTimeout(() => {
        this.#confirmTimer = null;
        this.sendConfirm(ws);
      }, CONFIRM_DELAY);
    }
  }

  /** Drops the confirm frame that waits, if any. */
  stopConfirms() {
    clearTimeout(this.#confirmTimer);
    this.#confirmTimer = null;
  }
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

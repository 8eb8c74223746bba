// The signaling connection of a Switchboard: the WebSocket and its hello
// and welcome, requests by id, heartbeats, session resume (what a resumed
// session replays, the confirm frames), and after a loss reconnection with
// bounded exponential backoff. The Switchboard (switchboard.js) holds the
// session's public state, which this writes, and the rooms; frames that are
// not about the connection go to it. Nothing here touches the DOM.

import {
  ClientErrorCode,
  CloseCode,
  ErrorCode,
  Requests,
  SwitchboardError,
  closeInfo,
  confirm,
  decode,
  encode,
  hello,
  leave,
  nextSeq,
  ping,
  reconnectDelay,
  resumeOf,
  seenSeq,
} from './protocol.js';
import { resolveURL } from './options.js';
import { Reconnection, lossError } from './reconnect.js';

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
 * @typedef {import('./switchboard.js').Switchboard} Switchboard
 * @typedef {import('./switchboard.js').ConnectInfo} ConnectInfo
 * @typedef {import('./room.js').Room} Room
 * @typedef {import('./token.js').SessionToken} SessionToken
 */

export class Connection {
  /** the Switchboard whose session this is: its public state and events */
  #sb;
  #opts;
  #url;
  /** when to try again after a loss */
  #reconnect;
  #requests = new Requests();
  /** @type {Map<string, Room>} the Switchboard's rooms, by roomKey */
  #rooms;
  /** @type {WebSocket|null} */
  #ws = null;
  #active = false;
  /** counts #open calls and deactivations, so a stale getToken result is dropped */
  #gen = 0;
  #needToken = false;
  /** @type {SwitchboardError|null} the last error frame of this connection */
  #lastError = null;
  /** @type {any} */ #confirmTimer = null;
  /** the last seq a confirm frame told the server */
  #confirmedSeq = 0;
  /** @type {any} */ #welcomeTimer = null;
  /** @type {any} */ #pingTimer = null;
  /** @type {string|null} resumes the session once; from the last welcome */
  #resumeToken = null;
  /** the server's grace period for a resume, in milliseconds */
  #resumeGrace = 0;
  /** after this time (Date.now()) the session cannot be resumed any more */
  #resumeDeadline = 0;
  /** whether the hello of the current connection tried to resume */
  #triedResume = false;
  /** @type {number|null} while a resumed session replays what it missed: the seq of its last frame */
  #replayUntil = null;
  /** @type {Map<string, Room>} rooms joined when the connection dropped (the server keeps them) */
  #joinedAtCut = new Map();
  /** the token the server knows, its expiry and its refresh */
  #token;
  /** @type {(frame: {type: string, [key: string]: any}) => void} handles the frames not about the connection */
  #onFrame;

  /**
   * @param {Switchboard} sb
   * @param {import('./options.js').SwitchboardOptions & typeof import('./options.js').DEFAULTS} opts
   * @param {string|undefined} url
   * @param {{rooms: Map<string, Room>, token: SessionToken, onFrame: (frame: {type: string, [key: string]: any}) => void}} parts
   */
  constructor(sb, opts, url, { rooms, token, onFrame }) {
    this.#sb = sb;
    this.#opts = opts;
    this.#url = url;
    this.#rooms = rooms;
    this.#token = token;
    this.#onFrame = onFrame;
    this.#reconnect = new Reconnection(this.#opts);
    if (this.#opts.autoConnect) {
      // Let the caller add listeners before anything can happen.
      this.#active = true;
      queueMicrotask(() => {
        if (this.#active && !this.#ws && this.#reconnect.timer === null) this.#open();
      });
    }
  }

  /** Whether the client is connected or trying to be. */
  get active() {
    return this.#active;
  }

  /** Whether a resumed session replays what it missed. */
  get replaying() {
    return this.#replayUntil !== null;
  }

  /** Connects (see Switchboard.connect). */
  connect() {
    if (this.#active) return;
    this.#active = true;
    this.#reconnect.reset();
    this.#open();
  }

  /**
   * @param {{type: string, [key: string]: any}} frame
   * @param {number} timeout
   * @param {boolean} hold track it now, send it once the replay is through
   * @returns {Promise<any>}
   */
  request(frame, timeout, hold) {
    const ws = this.#ws;
    if (!this.#sb.connected || !ws) {
      return Promise.reject(new SwitchboardError(ClientErrorCode.DISCONNECTED, 'not connected'));
    }
    const { frame: out, reply } = this.#requests.track(frame, { timeout, hold });
    let text;
    try {
      text = encode(out);
    } catch (err) {
      this.#requests.cancel(out.id, /** @type {Error} */ (err));
      return reply;
    }
    if (hold) return reply;
    try {
      sendOpen(ws, text);
    } catch (err) {
      this.#requests.cancel(out.id, /** @type {Error} */ (err));
    }
    return reply;
  }

  async #open() {
    this.#reconnect.cancel();
    const gen = ++this.#gen;
    if (this.#resumeToken !== null && Date.now() > this.#resumeDeadline) {
      // Away for longer than the server keeps a session: it is gone.
      this.#forgetSession('the session could not be resumed in time');
    }
    let token = this.#sb.auth?.token;
    const mustFetch = !token || this.#needToken;
    // A token about to expire is replaced first: a resume needs a valid one.
    if ((mustFetch || this.#token.expiresSoon(token)) && this.#opts.getToken) {
      try {
        token = await this.#opts.getToken();
        this.#sb.auth = { ...this.#sb.auth, token };
        this.#needToken = false;
      } catch (err) {
        if (!this.#active || gen !== this.#gen) return;
        if (mustFetch) {
          this.#sb.emit('error', new SwitchboardError(ErrorCode.UNAUTHORIZED, `getToken failed: ${errorText(err)}`));
          this.#retry();
          return;
        }
        // The current token still works for a little while: go with it.
        this.#sb.emit('error', new SwitchboardError(ClientErrorCode.REFRESH_FAILED, `getToken failed: ${errorText(err)}; connecting with the current token`));
      }
    }
    if (!this.#active || this.#ws || gen !== this.#gen) return;
    if (!token) {
      this.#sb.emit('error', new SwitchboardError(ClientErrorCode.NO_TOKEN, 'no token: set auth.token or getToken'));
      this.deactivate(new SwitchboardError(ClientErrorCode.NO_TOKEN, 'no token'), false);
      return;
    }
    let ws;
    try {
      const WS = this.#opts.WebSocket ?? globalThis.WebSocket;
      ws = new WS(resolveURL(this.#url));
    } catch (err) {
      const e = err instanceof SwitchboardError ? err : new SwitchboardError('bad_url', errorText(err));
      this.#sb.emit('error', e);
      this.deactivate(e, false);
      return;
    }
    this.#ws = ws;
    this.#lastError = null;
    this.#triedResume = false;
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      // With a session to resume: its token, and the last frame processed.
      const resume = this.#resumeToken ?? undefined;
      this.#triedResume = resume !== undefined;
      this.#token.token = token;
      this.#token.expires = null;
      ws.send(encode(hello(token, { resume, lastSeq: this.#sb.lastSeq })));
    };
    ws.onmessage = (ev) => this.#onMessage(ws, ev.data);
    ws.onclose = (ev) => {
      if (ws === this.#ws) this.#lost(ev.code, ev.reason);
    };
    ws.onerror = () => {}; // a close event follows with the details
    this.#welcomeTimer = setTimeout(() => {
      if (ws === this.#ws && !this.#sb.connected) this.#drop('connect timeout');
    }, this.#opts.timeout);
  }

  /**
   * @param {WebSocket} ws
   * @param {unknown} data
   */
  #onMessage(ws, data) {
    if (ws !== this.#ws) return;
    let frame;
    try {
      frame = decode(data);
    } catch (err) {
      this.#sb.emit('error', err);
      return;
    }
    if (!this.#sb.connected) {
      if (frame.type === 'welcome') this.#onWelcome(ws, frame);
      else if (frame.type === 'error') this.#lastError = SwitchboardError.fromFrame(frame);
      return;
    }
    if (seenSeq(this.#sb.lastSeq, frame)) return; // processed already: never twice
    this.#sb.lastSeq = nextSeq(this.#sb.lastSeq, frame);
    this.#dispatch(frame);
    if (this.#confirmTimer === null && ws === this.#ws && this.#sb.lastSeq > this.#confirmedSeq) {
      this.#confirmTimer = setTimeout(() => {
        this.#confirmTimer = null;
        this.#confirm(ws);
      }, CONFIRM_DELAY);
    }
    if (this.#replayUntil !== null && ws === this.#ws && this.#sb.connected && this.#sb.lastSeq >= this.#replayUntil) {
      this.#replayDone();
    }
  }

  /**
   * Handles a frame after the welcome: replies to requests, and what is
   * about the connection; the rest goes to the Switchboard.
   * @param {{type: string, [key: string]: any}} frame
   */
  #dispatch(frame) {
    if (this.#requests.settle(frame)) return;
    switch (frame.type) {
      case 'error':
        this.#lastError = SwitchboardError.fromFrame(frame);
        this.#sb.emit('error', this.#lastError);
        return;
      case 'reconnect':
        // The server drains: it closes soon (1001); come back after this delay.
        this.#reconnect.hint = reconnectDelay(frame);
        return;
      default:
        this.#onFrame(frame);
    }
  }

  /**
   * @param {WebSocket} ws
   * @param {{[key: string]: any}} frame
   */
  #onWelcome(ws, frame) {
    clearTimeout(this.#welcomeTimer);
    const r = resumeOf(frame);
    // Resumed: the same peer, whose rooms, links and requests carry on.
    const resumed = r.resumed && this.#triedResume && String(frame.peer) === this.#sb.id;
    this.#sb.id = String(frame.peer);
    this.#sb.session = frame.session ?? null;
    this.#sb.user = frame.user ?? null;
    this.#sb.name = frame.name ?? null;
    this.#sb.limits = frame.limits ?? null;
    this.#sb.iceServers = Array.isArray(frame.iceServers) ? frame.iceServers : [];
    this.#token.expires = typeof frame.expires === 'number' ? frame.expires : null;
    this.#resumeToken = r.token;
    this.#resumeGrace = r.grace;
    this.#reconnect.hint = null;
    this.#sb.resumed = resumed;
    this.#sb.resumeError = !this.#triedResume || resumed
      ? null
      : (r.error ?? new SwitchboardError('session_unknown', r.resumed ? 'the server resumed another session' : 'the session was not resumed'));
    if (resumed) {
      // Frames lastSeq+1 .. r.lastSeq follow: the replay of what was missed.
      this.#replayUntil = r.lastSeq ?? this.#sb.lastSeq;
    } else {
      this.#sb.lastSeq = 0; // a new session counts from 1
      this.#confirmedSeq = 0;
      this.#joinedAtCut.clear();
      // Nothing of the old session reaches the new one.
      this.#requests.rejectAll(new SwitchboardError(ClientErrorCode.DISCONNECTED, 'connection lost; the session was not resumed'));
    }
    this.#sb.connected = true;
    this.#lastError = null;
    const attempts = this.#reconnect.attempt;
    this.#reconnect.reset();
    this.#pingTimer = setInterval(() => this.#heartbeat(ws), this.#opts.pingInterval);
    /** @type {ConnectInfo} */
    const info = { resumed, resumeError: this.#sb.resumeError };
    this.#sb.emit('connect', info);
    if (attempts > 0) this.#sb.emit('reconnect', attempts, info);
    if (ws !== this.#ws) return; // a listener disconnected
    if (!resumed) {
      for (const room of this.#rooms.values()) room._join();
      return;
    }
    if (Array.isArray(frame.iceServers)) for (const room of this.#rooms.values()) room._iceServers(this.#sb.iceServers);
    if (this.#replayUntil !== null && this.#sb.lastSeq >= this.#replayUntil) this.#replayDone();
  }

  /**
   * A resumed session's replay is through: every request still without a
   * reply never reached the server, so it goes again (once, in order, the
   * requests held during the replay after them); rooms left while away are
   * left on the server; the rooms carry on.
   */
  #replayDone() {
    this.#replayUntil = null;
    const ws = /** @type {WebSocket} */ (this.#ws);
    for (const frame of this.#requests.resend()) {
      let text;
      try {
        text = encode(frame);
      } catch (err) {
        this.#requests.cancel(frame.id, /** @type {Error} */ (err));
        continue;
      }
      try {
        sendOpen(ws, text);
      } catch (err) {
        // A broken socket: the next resume sends what is left.
        this.#drop(`send failed: ${errorText(err)}`);
        return;
      }
    }
    const joined = [...this.#joinedAtCut];
    this.#joinedAtCut.clear();
    for (const [key, room] of joined) {
      if (this.#rooms.get(key) !== room) this.#sb.request(leave(room.name, room.ns)).catch(() => {});
    }
    for (const room of [...this.#rooms.values()]) {
      if (ws !== this.#ws) return; // a listener disconnected
      room._resumed();
    }
  }

  /**
   * Tells the server what the app has processed: it keeps frames for a
   * resume until then (a pong proves only that the socket has them, and a
   * browser drops what it has not dispatched when the socket is closed).
   * @param {WebSocket} ws
   */
  #confirm(ws) {
    if (ws !== this.#ws || !this.#sb.connected || this.#sb.lastSeq <= this.#confirmedSeq) return;
    const text = encode(confirm(this.#sb.lastSeq));
    try {
      sendOpen(ws, text);
    } catch {
      return; // a closing or broken socket: the heartbeat notices
    }
    this.#confirmedSeq = this.#sb.lastSeq;
  }

  /** @param {WebSocket} ws */
  #heartbeat(ws) {
    if (ws !== this.#ws || !this.#sb.connected) return;
    this.#confirm(ws);
    // Not held by a replay: a replay that stalls is a dead connection too.
    this.request(ping(), this.#opts.pingTimeout, false).catch((err) => {
      if (ws === this.#ws && err?.code === ClientErrorCode.TIMEOUT) this.#drop('ping timeout');
    });
  }

  /**
   * Gives up on the current socket without waiting for it to close (a frozen
   * network never delivers the close), then handles the loss. With a session
   * to resume the close code is 4000: 1000 would end the session at once.
   * @param {string} reason
   */
  #drop(reason) {
    const ws = this.#ws;
    if (ws) {
      detach(ws);
      const resumable = this.#resumeToken !== null && this.#opts.reconnection;
      try {
        ws.close(resumable ? CloseCode.RECONNECTING : CloseCode.NORMAL, reason);
      } catch {
        // closing a broken socket may throw; it is gone either way
      }
    }
    this.#lost(null, reason, reason);
  }

  /**
   * The socket is gone: tell the listeners and rooms, then reconnect or not.
   * @param {number|null} code close code, null when the client gave up
   * @param {string} closeReason
   * @param {string} [localReason] why the client gave up
   */
  #lost(code, closeReason, localReason) {
    const ws = this.#ws;
    if (ws) detach(ws);
    this.#ws = null;
    this.#stopTimers();
    const wasConnected = this.#sb.connected;
    this.#sb.connected = false;
    this.#replayUntil = null;

    const info = localReason
      ? { reason: localReason, reconnect: true, newToken: false }
      : closeInfo(/** @type {number} */ (code));
    const reconnect = this.#active && this.#opts.reconnection && info.reconnect && !(info.newToken && !this.#opts.getToken);
    if (reconnect && this.#resumeToken !== null) {
      // The server keeps the session for a while: requests wait for its
      // replies (or are sent again), rooms for the resume.
      if (wasConnected) {
        this.#requests.pause();
        for (const [key, room] of this.#rooms) if (room.joined) this.#joinedAtCut.set(key, room);
        this.#resumeDeadline = Date.now() + this.#resumeGrace + RESUME_SLACK;
      }
    } else {
      this.#forgetSession('connection lost');
    }
    for (const room of this.#rooms.values()) room._disconnected();
    const frameErr = this.#lastError;
    this.#lastError = null;
    const details = { code: code ?? undefined, reason: closeReason || undefined, error: frameErr ?? undefined };
    if (wasConnected) this.#sb.emit('disconnect', info.reason, details);

    const err = lossError(code, closeReason, frameErr, wasConnected, info.reason);
    if (err) this.#sb.emit('error', err);

    if (!this.#active) return;
    if (!reconnect) {
      this.deactivate(err ?? new SwitchboardError(ClientErrorCode.DISCONNECTED, info.reason), false);
      return;
    }
    if (info.newToken) this.#needToken = true;
    this.#retry();
  }

  /**
   * The session cannot be resumed: no resume token any more, and its
   * requests are over.
   * @param {string} why
   */
  #forgetSession(why) {
    this.#resumeToken = null;
    this.#joinedAtCut.clear();
    this.#requests.rejectAll(new SwitchboardError(ClientErrorCode.DISCONNECTED, why));
  }

  /** Schedules the next attempt, or gives up after the last one. */
  #retry() {
    if (!this.#active) return;
    if (!this.#opts.reconnection) {
      this.deactivate(new SwitchboardError(ClientErrorCode.DISCONNECTED, 'reconnection is off'), false);
      return;
    }
    if (this.#reconnect.exhausted(this.#opts.reconnectionAttempts)) {
      this.deactivate(new SwitchboardError(ClientErrorCode.DISCONNECTED, 'reconnection attempts exhausted'), false);
      this.#sb.emit('reconnect_failed');
      return;
    }
    const delay = this.#reconnect.delay(this.#resumeToken !== null ? this.#resumeGrace : null);
    this.#reconnect.timer = setTimeout(() => {
      this.#reconnect.timer = null;
      if (!this.#active || this.#ws) return;
      this.#reconnect.attempt++;
      this.#sb.emit('reconnect_attempt', this.#reconnect.attempt);
      if (this.#active && !this.#ws) this.#open();
    }, delay);
  }

  /**
   * Stops connecting. closeRooms also ends every room (explicit disconnect);
   * otherwise joined rooms stay and rejoin on the next connect(), and only
   * rooms whose first join is pending fail.
   * @param {Error} err
   * @param {boolean} closeRooms
   */
  deactivate(err, closeRooms) {
    this.#active = false;
    this.#gen++;
    this.#needToken = false;
    this.#resumeToken = null;
    this.#joinedAtCut.clear();
    this.#replayUntil = null;
    this.#reconnect.hint = null;
    this.#stopTimers();
    this.#reconnect.cancel();
    const ws = this.#ws;
    this.#ws = null;
    if (ws) {
      detach(ws);
      try {
        ws.close(1000, 'client disconnect');
      } catch {
        // already closed
      }
    }
    this.#sb.connected = false;
    this.#requests.rejectAll(new SwitchboardError(ClientErrorCode.DISCONNECTED, err.message));
    for (const room of [...this.#rooms.values()]) {
      if (closeRooms || !room._joinedOnce) room._close(err);
      else room._disconnected();
    }
  }

  #stopTimers() {
    clearTimeout(this.#confirmTimer);
    this.#confirmTimer = null;
    clearTimeout(this.#welcomeTimer);
    clearInterval(this.#pingTimer);
    this.#welcomeTimer = null;
    this.#pingTimer = null;
    this.#token.stop();
  }
}

/**
 * Sends on a socket that is open, and throws otherwise: a browser does not
 * throw for a socket the server is closing, it drops the frame and logs an
 * error to the console, which an app's error reporting then picks up.
 * @param {WebSocket} ws
 * @param {string} text
 */
function sendOpen(ws, text) {
  if (ws.readyState !== 1) throw new Error('socket not open');
  ws.send(text);
}

/** @param {WebSocket} ws */
function detach(ws) {
  ws.onopen = null;
  ws.onmessage = null;
  ws.onclose = null;
  ws.onerror = null;
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

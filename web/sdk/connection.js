// The signaling connection of a Switchboard: the WebSocket and its hello
// and welcome, requests by id, heartbeats, and what happens when it is lost.
// It decides when to resume and when to reconnect; the bookkeeping of a
// resume is in resume.js, when and how often to try again in reconnect.js.
// The Switchboard (switchboard.js) holds the session's public state, which
// this writes, and the rooms; frames that are not about the connection go to
// it. Nothing here touches the DOM.

import {
  ClientErrorCode,
  CloseCode,
  ErrorCode,
  Requests,
  SwitchboardError,
  closeInfo,
  decode,
  encode,
  hello,
  nextSeq,
  ping,
  reconnectDelay,
  resumeOf,
  seenSeq,
} from './protocol.js';
import { resolveURL } from './options.js';
import { Reconnection, lossError } from './reconnect.js';
import { SessionResume } from './resume.js';
import { detach, sendOpen } from './socket.js';

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
  /** @type {any} */ #welcomeTimer = null;
  /** @type {any} */ #pingTimer = null;
  /** the token the server knows, its expiry and its refresh */
  #token;
  /** what a resume needs: its token, the replay, the rooms at the cut, the confirms */
  #resume;
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
    this.#resume = new SessionResume({
      ws: () => this.#ws,
      requests: this.#requests,
      rooms,
      sb,
      drop: (reason) => this.#drop(reason),
    });
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
    return this.#resume.replayUntil !== null;
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
    if (this.#resume.expired()) {
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
    this.#resume.tried = false;
    ws.onopen = () => {
      if (ws !== this.#ws) return;
      // With a session to resume: its token, and the last frame processed.
      const resume = this.#resume.token ?? undefined;
      this.#resume.tried = resume !== undefined;
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
    if (ws === this.#ws) this.#resume.confirmSoon(ws);
    if (this.#resume.replayUntil !== null && ws === this.#ws && this.#sb.connected && this.#sb.lastSeq >= this.#resume.replayUntil) {
      this.#resume.replayDone();
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
    const resumed = r.resumed && this.#resume.tried && String(frame.peer) === this.#sb.id;
    this.#sb.id = String(frame.peer);
    this.#sb.session = frame.session ?? null;
    this.#sb.user = frame.user ?? null;
    this.#sb.name = frame.name ?? null;
    this.#sb.limits = frame.limits ?? null;
    this.#sb.iceServers = Array.isArray(frame.iceServers) ? frame.iceServers : [];
    this.#token.expires = typeof frame.expires === 'number' ? frame.expires : null;
    this.#resume.token = r.token;
    this.#resume.grace = r.grace;
    this.#reconnect.hint = null;
    this.#sb.resumed = resumed;
    this.#sb.resumeError = !this.#resume.tried || resumed
      ? null
      : (r.error ?? new SwitchboardError('session_unknown', r.resumed ? 'the server resumed another session' : 'the session was not resumed'));
    if (resumed) {
      // Frames lastSeq+1 .. r.lastSeq follow: the replay of what was missed.
      this.#resume.replayUntil = r.lastSeq ?? this.#sb.lastSeq;
    } else {
      this.#sb.lastSeq = 0; // a new session counts from 1
      this.#resume.newSession();
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
    if (this.#resume.replayUntil !== null && this.#sb.lastSeq >= this.#resume.replayUntil) this.#resume.replayDone();
  }

  /** @param {WebSocket} ws */
  #heartbeat(ws) {
    if (ws !== this.#ws || !this.#sb.connected) return;
    this.#resume.sendConfirm(ws);
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
      const resumable = this.#resume.token !== null && this.#opts.reconnection;
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
    this.#resume.replayUntil = null;

    const info = localReason
      ? { reason: localReason, reconnect: true, newToken: false }
      : closeInfo(/** @type {number} */ (code));
    const reconnect = this.#active && this.#opts.reconnection && info.reconnect && !(info.newToken && !this.#opts.getToken);
    if (reconnect && this.#resume.token !== null) {
      // The server keeps the session for a while: requests wait for its
      // replies (or are sent again), rooms for the resume.
      if (wasConnected) {
        this.#requests.pause();
        this.#resume.cut();
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
    this.#resume.forget();
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
    const delay = this.#reconnect.delay(this.#resume.token !== null ? this.#resume.grace : null);
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
    this.#resume.forget();
    this.#resume.replayUntil = null;
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
    this.#resume.stopConfirms();
    clearTimeout(this.#welcomeTimer);
    clearInterval(this.#pingTimer);
    this.#welcomeTimer = null;
    this.#pingTimer = null;
    this.#token.stop();
  }
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err);
}

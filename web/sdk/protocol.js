// The Switchboard wire protocol: JSON text frames over the WebSocket at /ws
// (docs/protocol.md). This module builds and checks frames, matches replies to
// requests by id, and knows what each close code means. It touches neither the
// DOM nor WebRTC, so it runs under Node as well.

/** Largest frame the server accepts, in bytes of UTF-8. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Error codes the server puts in error frames. */
export const ErrorCode = Object.freeze({
  UNAUTHORIZED: 'unauthorized',
  TOKEN_EXPIRED: 'token_expired',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  BAD_REQUEST: 'bad_request',
  RATE_LIMITED: 'rate_limited',
  LIMIT_EXCEEDED: 'limit_exceeded',
});

/** Error codes the SDK itself uses for failures the server never reports. */
export const ClientErrorCode = Object.freeze({
  UNREACHABLE: 'unreachable', // the WebSocket closed before the welcome
  DISCONNECTED: 'disconnected', // the connection went away while waiting
  TIMEOUT: 'timeout', // no reply in time
  FRAME_TOO_BIG: 'frame_too_big', // a frame over MAX_FRAME_BYTES
  BAD_FRAME: 'bad_frame', // the server sent something that is not a frame
  NO_TOKEN: 'no_token', // neither auth.token nor getToken gave a token
  REFRESH_FAILED: 'refresh_failed', // refreshing the session's token (getToken, then refresh) failed
  QUEUE_FULL: 'queue_full', // too many broadcasts waiting for the connection to come back
  SESSION_TAKEN_OVER: 'session_taken_over', // close 4409: the session was resumed on another connection
});

/** Codes of welcome.resumeError: why the server did not resume the session. */
export const ResumeErrorCode = Object.freeze({
  SESSION_UNKNOWN: 'session_unknown', // grace period over, token used already, server restarted
  SESSION_OVERFLOW: 'session_overflow', // more frames waited for the session than its buffer holds
  SEQ_OUT_OF_RANGE: 'seq_out_of_range', // lastSeq above the last frame sent, or below confirmed ones
  FORBIDDEN: 'forbidden', // the new token does not grant every room of the session
});

/**
 * Close codes the server uses, and the one the client uses when it gives up
 * on a connection but not on its session (RECONNECTING: 1000 or 1001 from the
 * client would end the session at once, any other code keeps it for a resume).
 */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  ABNORMAL: 1006,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  PROTOCOL_ERROR: 4400,
  UNAUTHORIZED: 4401,
  HELLO_TIMEOUT: 4408,
  TAKEN_OVER: 4409,
  TOO_MANY_SESSIONS: 4429,
  RECONNECTING: 4000,
});

/** An error from the server (code from ErrorCode) or from the SDK (ClientErrorCode). */
export class SwitchboardError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   * @param {object} [details]
   * @param {any} [details.frame] the error frame, when the server sent one
   * @param {number} [details.closeCode] the WebSocket close code, when there was one
   */
  constructor(code, message, { frame, closeCode } = {}) {
    super(message || code);
    this.name = 'SwitchboardError';
    this.code = code;
    this.frame = frame;
    this.closeCode = closeCode;
  }

  /** @param {any} frame an error frame */
  static fromFrame(frame) {
    const code = typeof frame.code === 'string' ? frame.code : 'unknown';
    return new SwitchboardError(code, typeof frame.message === 'string' ? frame.message : code, { frame });
  }
}

/**
 * Returns a copy of obj without the keys whose value is undefined.
 * @template {object} T
 * @param {T} obj
 * @returns {T}
 */
function compact(obj) {
  return /** @type {T} */ (Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)));
}

/**
 * The first frame of a connection. resume and lastSeq are for session
 * resumption; leave them out to start a new session.
 * @param {string} token
 * @param {{resume?: string, lastSeq?: number}} [resume]
 */
export function hello(token, { resume, lastSeq } = {}) {
  return compact({ type: 'hello', token, resume, lastSeq: resume === undefined ? undefined : lastSeq });
}

/** @param {string} room @param {string} [ns] */
export function join(room, ns) {
  return compact({ type: 'join', room, ns });
}

/** @param {string} room @param {string} [ns] */
export function leave(room, ns) {
  return compact({ type: 'leave', room, ns });
}

/** @param {string} room @param {string|undefined} ns @param {string} to @param {unknown} data */
export function signal(room, ns, to, data) {
  return compact({ type: 'signal', room, ns, to, data });
}

/**
 * A message to the SFU of an sfu room (docs/protocol.md, the sfu frame).
 * @param {string} room @param {string|undefined} ns @param {object} data
 */
export function sfu(room, ns, data) {
  return compact({ type: 'sfu', room, ns, data });
}

/** @param {string} room @param {string|undefined} ns @param {unknown} data */
export function broadcast(room, ns, data) {
  return compact({ type: 'broadcast', room, ns, data });
}

export function ping() {
  return { type: 'ping' };
}

/**
 * Tells the server that the app has processed every frame up to lastSeq,
 * so that it need not keep them for a resume.
 * @param {number} lastSeq
 */
export function confirm(lastSeq) {
  return { type: 'confirm', lastSeq };
}

/**
 * Serializes a frame and checks it against the frame limit.
 * @param {object} frame
 * @returns {string}
 */
export function encode(frame) {
  const text = JSON.stringify(frame);
  // A UTF-16 code unit is at most 3 bytes of UTF-8: only count when it matters.
  if (text.length * 3 > MAX_FRAME_BYTES && new TextEncoder().encode(text).length > MAX_FRAME_BYTES) {
    throw new SwitchboardError(ClientErrorCode.FRAME_TOO_BIG, `frame larger than ${MAX_FRAME_BYTES} bytes`);
  }
  return text;
}

/**
 * Parses a frame from the server: a JSON object with a string "type".
 * @param {unknown} data a WebSocket message
 * @returns {{type: string, [key: string]: any}}
 */
export function decode(data) {
  if (typeof data !== 'string') {
    throw new SwitchboardError(ClientErrorCode.BAD_FRAME, 'binary frame from the server');
  }
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    throw new SwitchboardError(ClientErrorCode.BAD_FRAME, 'frame is not JSON');
  }
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame) || typeof frame.type !== 'string') {
    throw new SwitchboardError(ClientErrorCode.BAD_FRAME, 'frame is not an object with a type');
  }
  return frame;
}

/**
 * The higher of the last sequence number seen and the frame's "seq".
 * @param {number} last
 * @param {{[key: string]: any}} frame a decoded frame
 */
export function nextSeq(last, frame) {
  return typeof frame.seq === 'number' && frame.seq > last ? frame.seq : last;
}

/**
 * Whether the frame's "seq" is one already processed (at or below last):
 * such a frame is ignored. Never expected from a correct server, even across
 * a resume, whose replay starts after the hello's lastSeq.
 * @param {number} last
 * @param {{[key: string]: any}} frame a decoded frame
 */
export function seenSeq(last, frame) {
  return typeof frame.seq === 'number' && frame.seq <= last;
}

/** Grace period when a welcome with a resume token does not say (the server's default). */
export const DEFAULT_RESUME_GRACE = 30000;

/**
 * @typedef {object} ResumeInfo
 * @property {string|null} token the token that resumes this session once; null when the server has resume off
 * @property {number} grace how long the server keeps the session after a lost connection, in milliseconds
 * @property {boolean} resumed whether the hello resumed a session
 * @property {number|null} lastSeq with resumed: the seq of the last frame the server had queued (the replay's end)
 * @property {SwitchboardError|null} error without resumed: why the server did not resume, when it said
 */

/**
 * The session-resume fields of a welcome frame.
 * @param {{[key: string]: any}} frame a welcome frame
 * @returns {ResumeInfo}
 */
export function resumeOf(frame) {
  const token = typeof frame.resume === 'string' && frame.resume !== '' ? frame.resume : null;
  const grace = typeof frame.resumeGrace === 'number' && frame.resumeGrace > 0 ? frame.resumeGrace * 1000 : DEFAULT_RESUME_GRACE;
  const resumed = frame.resumed === true;
  const lastSeq = resumed && typeof frame.lastSeq === 'number' && Number.isFinite(frame.lastSeq) ? frame.lastSeq : null;
  const re = frame.resumeError;
  const error =
    !resumed && re !== null && typeof re === 'object'
      ? new SwitchboardError(typeof re.code === 'string' ? re.code : 'unknown', typeof re.message === 'string' ? re.message : undefined)
      : null;
  return { token, grace, resumed, lastSeq, error };
}

/** Longest wait a reconnect frame can ask for, in milliseconds. */
export const MAX_RECONNECT_DELAY = 60000;

/**
 * The delay a reconnect frame (server draining) asks for before the next
 * attempt, in whole milliseconds, at most MAX_RECONNECT_DELAY; null when it
 * names none.
 * @param {{[key: string]: any}} frame a reconnect frame
 * @returns {number|null}
 */
export function reconnectDelay(frame) {
  const d = frame.delay;
  if (typeof d !== 'number' || !Number.isFinite(d)) return null;
  return Math.floor(Math.min(Math.max(d, 0), MAX_RECONNECT_DELAY));
}

/**
 * A key for a room within a namespace.
 * @param {string} room
 * @param {string} [ns]
 */
export function roomKey(room, ns) {
  return JSON.stringify([ns ?? '', room]);
}

/**
 * @typedef {object} CloseInfo
 * @property {string} reason a short, stable description ("server going away")
 * @property {boolean} reconnect whether reconnecting can help
 * @property {boolean} newToken whether a reconnect needs a new token first
 */

/**
 * What a close code from the server means for the client.
 * @param {number} code
 * @returns {CloseInfo}
 */
export function closeInfo(code) {
  switch (code) {
    case CloseCode.NORMAL:
      return { reason: 'server closed', reconnect: false, newToken: false };
    case CloseCode.GOING_AWAY:
      return { reason: 'server going away', reconnect: true, newToken: false };
    case CloseCode.POLICY_VIOLATION:
      return { reason: 'too slow', reconnect: true, newToken: false };
    case CloseCode.MESSAGE_TOO_BIG:
      return { reason: 'frame too big', reconnect: true, newToken: false };
    case CloseCode.PROTOCOL_ERROR:
      return { reason: 'protocol error', reconnect: false, newToken: false };
    case CloseCode.UNAUTHORIZED:
      return { reason: 'unauthorized', reconnect: true, newToken: true };
    case CloseCode.HELLO_TIMEOUT:
      return { reason: 'hello timeout', reconnect: true, newToken: false };
    case CloseCode.TAKEN_OVER:
      return { reason: 'session taken over', reconnect: false, newToken: false };
    case CloseCode.TOO_MANY_SESSIONS:
      return { reason: 'too many sessions', reconnect: true, newToken: false };
    default:
      return { reason: 'transport close', reconnect: true, newToken: false };
  }
}

/**
 * Pending requests, matched to their replies by "id". Every request gets
 * exactly one outcome: its reply, an error frame with its id (rejected as a
 * SwitchboardError), a timeout, or a rejection from cancel or rejectAll.
 *
 * For session resume a request outlives its connection: pause() stops the
 * timeouts when the connection drops, and resend() hands back every request
 * still without a reply, to be sent again on the resumed session. A request
 * tracked with hold is not sent yet: its timeout starts with resend().
 */
export class Requests {
  #next = 1;
  /** @type {Map<string, {resolve: (f: any) => void, reject: (e: Error) => void, timer: any, frame: any, timeout: number}>} */
  #pending = new Map();

  /** The number of requests waiting for a reply. */
  get size() {
    return this.#pending.size;
  }

  /**
   * Gives the frame a fresh id and starts waiting for its reply.
   * @template {object} F
   * @param {F} frame
   * @param {{timeout?: number, hold?: boolean}} [opts] timeout in milliseconds (0 or Infinity
   *   waits forever); hold: the frame is not sent now, so its timeout waits for resend()
   * @returns {{frame: F & {id: number}, reply: Promise<any>}}
   */
  track(frame, { timeout = 10000, hold = false } = {}) {
    const id = this.#next++;
    const key = String(id);
    const out = { ...frame, id };
    /** @type {any} */
    let entry;
    const reply = new Promise((resolve, reject) => {
      entry = { resolve, reject, timer: null, frame: out, timeout };
    });
    this.#pending.set(key, entry);
    if (!hold) this.#arm(key, entry);
    return { frame: out, reply };
  }

  /**
   * Starts the timeout of a request that was just sent.
   * @param {string} key
   * @param {{reject: (e: Error) => void, timer: any, frame: any, timeout: number}} entry
   */
  #arm(key, entry) {
    clearTimeout(entry.timer);
    entry.timer = null;
    const { timeout } = entry;
    if (!(timeout > 0 && Number.isFinite(timeout))) return;
    entry.timer = setTimeout(() => {
      if (this.#pending.get(key) !== entry) return;
      this.#pending.delete(key);
      entry.reject(new SwitchboardError(ClientErrorCode.TIMEOUT, `no reply to ${entry.frame.type} within ${timeout} ms`));
    }, timeout);
  }

  /**
   * Settles the request the frame answers. Returns false when the frame
   * carries no id or an id nobody waits for.
   * @param {{type: string, id?: unknown}} frame
   */
  settle(frame) {
    if (frame.id === undefined || frame.id === null) return false;
    const key = String(frame.id);
    const entry = this.#pending.get(key);
    if (!entry) return false;
    this.#pending.delete(key);
    clearTimeout(entry.timer);
    if (frame.type === 'error') entry.reject(SwitchboardError.fromFrame(frame));
    else entry.resolve(frame);
    return true;
  }

  /**
   * Rejects one request.
   * @param {number|string} id
   * @param {Error} err
   */
  cancel(id, err) {
    const key = String(id);
    const entry = this.#pending.get(key);
    if (!entry) return;
    this.#pending.delete(key);
    clearTimeout(entry.timer);
    entry.reject(err);
  }

  /**
   * Rejects every pending request.
   * @param {Error} err
   */
  rejectAll(err) {
    const entries = [...this.#pending.values()];
    this.#pending.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.reject(err);
    }
  }

  /**
   * Stops every timeout: the connection is gone and the requests wait for
   * the session to be resumed (resend) or not (rejectAll). A reply cannot
   * come meanwhile, so no timeout could tell anything.
   */
  pause() {
    for (const entry of this.#pending.values()) {
      clearTimeout(entry.timer);
      entry.timer = null;
    }
  }

  /**
   * The frames of every request still without a reply, oldest first, to be
   * sent (again) now; their timeouts start afresh.
   * @returns {{type: string, id: number, [key: string]: any}[]}
   */
  resend() {
    const frames = [];
    for (const [key, entry] of this.#pending) {
      this.#arm(key, entry);
      frames.push(entry.frame);
    }
    return frames;
  }
}

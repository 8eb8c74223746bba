// Switchboard browser SDK: one signaling connection to a Switchboard server,
// with reconnection, session resume, heartbeats and rooms whose peers form a
// WebRTC mesh, or meet through the server's SFU.
//
//   import { Switchboard } from '/sdk/switchboard.js';
//   const sb = new Switchboard({ auth: { token } });
//   const room = await sb.join('lobby');
//   room.on('data', (peer, data) => console.log(peer, data));
//   room.send({ text: 'hello' });
//   room.publish(await navigator.mediaDevices.getUserMedia({ audio: true, video: true }));
//   room.on('track', (peer, track, stream) => { video.srcObject = stream; });
//
// This file is the public API. The connection itself (WebSocket, requests,
// heartbeats, resume, reconnection) lives in connection.js, the options in
// options.js, the wire protocol in protocol.js, rooms in room.js, the WebRTC
// links in peer.js and sfu.js (docs/architecture.md has the whole map).
// Nothing here touches the DOM, and nothing runs at import time.

import { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import { ClientErrorCode, ErrorCode, SwitchboardError, ping, roomKey } from './protocol.js';
import { DEFAULTS } from './options.js';
import { PeerLink } from './peer.js';
import { Room } from './room.js';
import { SfuLink } from './sfu.js';
import { SessionToken } from './token.js';

export { Room } from './room.js';
export { resolveURL } from './options.js';
export { SwitchboardError, ErrorCode, ClientErrorCode, CloseCode, ResumeErrorCode, MAX_FRAME_BYTES } from './protocol.js';

/**
 * @typedef {import('./options.js').SwitchboardOptions} SwitchboardOptions
 *
 * @typedef {object} ConnectInfo what "connect" and "reconnect" tell
 * @property {boolean} resumed the session of the last connection carries on:
 *   same peer id, rooms and links, and nothing it was sent is lost
 * @property {SwitchboardError|null} resumeError why the server did not resume the
 *   session (a new session started); null when resumed or when no resume was tried
 */

/**
 * A connection to a Switchboard server.
 *
 * Events: "connect" (info), "disconnect" (reason, details),
 * "reconnect_attempt" (attempt), "reconnect" (attempts, info),
 * "reconnect_failed", "error" (err), "ice-servers" (iceServers),
 * "token-expiring" (expires).
 */
export class Switchboard extends Emitter {
  /** Credentials for the next hello; set it before connect(). @type {{token?: string}} */
  auth;
  /** Own peer id in the current session, from the welcome frame. @type {string|null} */
  id = null;
  /** Session id from the welcome frame. @type {string|null} */
  session = null;
  /** User id from the token. @type {string|null} */
  user = null;
  /** Display name from the token. @type {string|null} */
  name = null;
  /** Limits the server applies to this session. @type {Record<string, number>|null} */
  limits = null;
  /** ICE servers for peer connections, from the welcome frame. @type {RTCIceServer[]} */
  iceServers = [];
  /** Highest "seq" processed in this session (for session resume). */
  lastSeq = 0;
  /** Whether the welcome frame arrived and the connection is up. */
  connected = false;
  /** Whether the current (or last) connection resumed the session of the one before. */
  resumed = false;
  /** @type {SwitchboardError|null} why the server refused the last resume; null after a resume */
  resumeError = null;

  #opts;
  /** @type {Map<string, Room>} */
  #rooms = new Map();
  /** the token the server knows, its expiry and its refresh */
  #token;
  /** the WebSocket, its requests, heartbeats, resume and reconnection */
  #conn;

  /**
   * @param {string|SwitchboardOptions} [url] ws(s):// or http(s):// URL of the
   *   endpoint; default /ws on the page's host
   * @param {SwitchboardOptions} [opts]
   */
  constructor(url, opts) {
    super();
    if (url !== null && typeof url === 'object') {
      opts = url;
      url = undefined;
    }
    this.#opts = { ...DEFAULTS, ...opts };
    this.auth = { ...this.#opts.auth };
    this.#token = new SessionToken(this, this.#opts);
    this.#conn = new Connection(this, this.#opts, url, {
      rooms: this.#rooms,
      token: this.#token,
      onFrame: (frame) => this.#dispatch(frame),
    });
  }

  /** Whether the client is connected or trying to be. */
  get active() {
    return this.#conn.active;
  }

  /** The rooms joined or being joined. */
  get rooms() {
    return [...this.#rooms.values()];
  }

  /**
   * Connects, and keeps reconnecting after losses while reconnection is on.
   * Does nothing when already connected or connecting.
   * @returns {this}
   */
  connect() {
    this.#conn.connect();
    return this;
  }

  /**
   * Closes the connection, stops reconnecting and closes every room.
   * @returns {this}
   */
  disconnect() {
    const wasConnected = this.connected;
    this.#conn.deactivate(new SwitchboardError(ClientErrorCode.DISCONNECTED, 'client disconnect'), true);
    if (wasConnected) this.emit('disconnect', 'client disconnect', {});
    return this;
  }

  /** Same as disconnect(). */
  close() {
    return this.disconnect();
  }

  /**
   * Joins a room and connects to its peers. Waits for the connection when
   * there is none yet. Joining a room twice gives the same Room.
   * @param {string} name
   * @param {{ns?: string}} [opts] the room's namespace
   * @returns {Promise<Room>}
   */
  join(name, { ns } = {}) {
    if (typeof name !== 'string' || name === '') {
      return Promise.reject(new SwitchboardError(ErrorCode.BAD_REQUEST, 'room name must be a non-empty string'));
    }
    const key = roomKey(name, ns);
    let room = this.#rooms.get(key);
    if (!room) {
      // What every PeerConnection of the room is made with.
      const rtc = {
        rtcConfig: this.#opts.rtcConfig,
        RTCPeerConnection: this.#opts.RTCPeerConnection,
        MediaStream: this.#opts.MediaStream,
      };
      const created = new Room(this, name, ns, {
        forget: () => {
          if (this.#rooms.get(key) === created) this.#rooms.delete(key);
        },
        createLink: (o) => new PeerLink({ ...o, ...rtc }),
        createSfu: (o) => new SfuLink({ ...o, ...rtc }),
        MediaStream: this.#opts.MediaStream,
      });
      room = created;
      this.#rooms.set(key, room);
      if (this.connected) room._join();
    }
    return room._ready();
  }

  /**
   * Sends a frame that expects a reply and resolves with the reply (an error
   * frame rejects with a SwitchboardError). The frame gets an "id".
   * @param {{type: string, [key: string]: any}} frame
   * @param {{timeout?: number}} [opts]
   * @returns {Promise<any>}
   */
  request(frame, { timeout = this.#opts.requestTimeout } = {}) {
    // While a resumed session replays what it missed, new requests wait:
    // the requests the cut left without a reply go first.
    return this.#conn.request(frame, timeout, this.#conn.replaying);
  }

  /**
   * Measures the round trip to the server.
   * @returns {Promise<number>} milliseconds
   */
  async ping() {
    const start = Date.now();
    await this.request(ping(), { timeout: this.#opts.pingTimeout });
    return Date.now() - start;
  }

  /**
   * Replaces the session's token with a fresh one of the same user, without
   * reconnecting; the next connection uses it too. With getToken the SDK
   * does this by itself when the server says the token expires soon.
   * @param {string} token
   * @returns {Promise<number>} the new token's expiry, unix seconds
   */
  async refresh(token) {
    const reply = await this.request({ type: 'refresh', token });
    this.auth = { ...this.auth, token };
    const expires = Number(reply.expires);
    if (Number.isFinite(expires)) {
      this.#token.token = token;
      this.#token.expires = expires;
    }
    return expires;
  }

  /**
   * Handles a frame after the welcome that is not about the connection
   * itself (replies, errors and reconnect frames are: connection.js).
   * @param {{type: string, [key: string]: any}} frame
   */
  #dispatch(frame) {
    switch (frame.type) {
      case 'ice-servers':
        // Fresh TURN credentials, pushed before the last ones expire.
        if (!Array.isArray(frame.iceServers)) return;
        this.iceServers = frame.iceServers;
        for (const room of this.#rooms.values()) room._iceServers(this.iceServers);
        this.emit('ice-servers', this.iceServers);
        return;
      case 'token-expiring':
        this.emit('token-expiring', Number(frame.expires));
        this.#token.refreshSoon(Number(frame.expires));
        return;
      case 'peer-joined':
      case 'peer-left':
      case 'signal':
      case 'broadcast':
      case 'sfu':
      case 'mode':
      case 'mode-ack':
        if (typeof frame.room === 'string') this.#rooms.get(roomKey(frame.room, frame.ns))?._handle(frame);
        return;
      default:
        // pong without an id and frame types of later versions
        return;
    }
  }
}

export default Switchboard;

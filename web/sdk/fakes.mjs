// Test doubles for the SDK's unit tests: a scripted WebSocket server and a
// minimal RTCPeerConnection. Not served (only *.js files are embedded).

/** A data channel that records what was sent. */
export class FakeChannel {
  readyState = 'connecting';
  binaryType = 'blob';
  /** @type {unknown[]} */
  sent = [];
  /** @param {string} label */
  constructor(label) {
    this.label = label;
  }
  /** @param {unknown} data */
  send(data) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 'closed';
  }
}

/** Just enough of RTCPeerConnection for PeerLink and Room. */
export class FakePeerConnection {
  /** @type {FakePeerConnection[]} */
  static instances = [];
  connectionState = 'new';
  signalingState = 'stable';
  /** @type {{type: string, sdp: string}|null} */
  localDescription = null;
  /** @type {FakeChannel[]} */
  channels = [];
  /** @type {string[]} */
  log = [];
  failCandidates = false;
  #pending = Promise.resolve();

  /** @param {object} config */
  constructor(config) {
    this.config = config;
    FakePeerConnection.instances.push(this);
  }
  getConfiguration() {
    return { ...this.config };
  }
  /** @param {object} config */
  setConfiguration(config) {
    this.config = config;
  }
  /** @param {string} label */
  createDataChannel(label) {
    const ch = new FakeChannel(label);
    this.channels.push(ch);
    return ch;
  }
  /** @param {{type: string, sdp: string}} d */
  async setRemoteDescription(d) {
    this.log.push(`setRemoteDescription ${d.type}`);
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  async setLocalDescription() {
    const type = this.signalingState === 'have-remote-offer' ? 'answer' : 'offer';
    this.log.push(`setLocalDescription ${type}`);
    this.localDescription = { type, sdp: `${type}-sdp` };
    this.signalingState = type === 'answer' ? 'stable' : 'have-local-offer';
  }
  /** @param {{candidate: string}} c */
  async addIceCandidate(c) {
    this.log.push(`addIceCandidate ${c.candidate}`);
    if (this.failCandidates) throw new Error('no remote description');
  }
  close() {
    this.connectionState = 'closed';
    this.signalingState = 'closed';
  }
  /** Waits until queued signal handling has run. */
  async settled() {
    for (let i = 0; i < 20; i++) await this.#pending;
  }
}

/**
 * A WebSocket class bound to a scripted server. The server function gets
 * each socket and each frame the client sends; helpers on the socket let it
 * answer, or close the connection.
 * @param {{onConnect?: (ws: FakeSocket) => void, onFrame?: (ws: FakeSocket, frame: any) => void}} server
 */
export function fakeWebSocket(server) {
  /** @type {FakeSocket[]} */
  const sockets = [];
  class FakeSocket {
    readyState = 0;
    /** @type {any[]} */
    sent = [];
    /** @type {{code?: number, reason?: string}|null} */
    closedByClient = null;
    seq = 0;
    /** @type {((ev: any) => void)|null} */ onopen = null;
    /** @type {((ev: any) => void)|null} */ onmessage = null;
    /** @type {((ev: any) => void)|null} */ onclose = null;
    /** @type {((ev: any) => void)|null} */ onerror = null;
    /** @param {string} url */
    constructor(url) {
      this.url = url;
      sockets.push(this);
      setTimeout(() => {
        if (server.onConnect) server.onConnect(this);
        else this.open();
      }, 0);
    }
    /** @param {string} text */
    send(text) {
      if (this.readyState !== 1) throw new Error('socket not open');
      const frame = JSON.parse(text);
      this.sent.push(frame);
      setTimeout(() => server.onFrame?.(this, frame), 0);
    }
    /** @param {number} [code] @param {string} [reason] */
    close(code, reason) {
      this.closedByClient = { code, reason };
      this.readyState = 3;
    }
    // Server side.
    open() {
      this.readyState = 1;
      this.onopen?.({});
    }
    /** @param {object} frame @param {{noSeq?: boolean}} [opts] */
    reply(frame, { noSeq = false } = {}) {
      if (this.readyState !== 1) return;
      const f = noSeq ? frame : { ...frame, seq: ++this.seq };
      this.onmessage?.({ data: JSON.stringify(f) });
    }
    /** @param {number} code @param {string} [reason] */
    serverClose(code, reason = '') {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onerror?.({});
      this.onclose?.({ code, reason });
    }
  }
  return { WebSocket: FakeSocket, sockets };
}

/**
 * A well-behaved server: welcomes every hello (peer ids p1, p2, ...),
 * answers pings and joins, acks the rest.
 * @param {{peers?: any[], iceServers?: any[], onFrame?: (ws: any, frame: any) => boolean|void}} [opts]
 *   onFrame may handle a frame itself by returning true.
 */
export function goodServer({ peers = [], iceServers, onFrame } = {}) {
  let n = 0;
  return fakeWebSocket({
    onFrame(ws, f) {
      if (onFrame?.(ws, f)) return;
      switch (f.type) {
        case 'hello':
          ws.reply({ type: 'welcome', peer: `p${++n}`, session: `s${n}`, user: 'u', name: 'U', limits: {}, iceServers }, { noSeq: true });
          break;
        case 'ping':
          ws.reply({ type: 'pong', id: f.id });
          break;
        case 'join':
          ws.reply({ type: 'joined', room: f.room, peers, id: f.id });
          break;
        default:
          if (f.id !== undefined) ws.reply({ type: 'ack', id: f.id });
      }
    },
  });
}

/**
 * Resolves with the arguments of the next emit of an event.
 * @param {{once: (e: string, fn: (...a: any[]) => void) => void}} emitter
 * @param {string} event
 * @returns {Promise<any[]>}
 */
export function next(emitter, event) {
  return new Promise((resolve) => emitter.once(event, (...args) => resolve(args)));
}

/**
 * Resolves once cond() is true, checking every few milliseconds; rejects
 * after timeoutMs.
 * @param {() => boolean} cond
 * @param {number} [timeoutMs]
 */
export async function until(cond, timeoutMs = 2000) {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms: ${cond}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// Test doubles for the SDK's unit tests: a scripted WebSocket server and a
// minimal RTCPeerConnection. Not served (only *.js files are embedded).

import { mediaSections } from './sdp.js';

/** A data channel that records what was sent. */
export class FakeChannel {
  readyState = 'connecting';
  binaryType = 'blob';
  /** @type {unknown[]} */
  sent = [];
  /** @param {string} label @param {object} [options] */
  constructor(label, options) {
    this.label = label;
    this.options = options;
  }
  /** @param {unknown} data */
  send(data) {
    this.sent.push(data);
  }
  close() {
    this.readyState = 'closed';
  }
  /** The channel opened (as the SCTP transport would say). */
  open() {
    this.readyState = 'open';
    this.onopen?.({});
  }
  /** A message arrived from the other side. @param {unknown} data */
  receive(data) {
    this.onmessage?.({ data });
  }
}

let fakeIds = 0;

/** A MediaStreamTrack stand-in. */
export class FakeTrack extends EventTarget {
  readyState = 'live';
  enabled = true;
  /** @type {{width?: number, height?: number}} what getSettings returns */
  settings = {};
  /** @param {string} kind @param {string} [id] */
  constructor(kind, id = `${kind}-${++fakeIds}`) {
    super();
    this.kind = kind;
    this.id = id;
  }
  /** The source ended (a remote track whose transceiver stopped): "ended" fires. */
  end() {
    this.readyState = 'ended';
    this.dispatchEvent(new Event('ended'));
  }
  getSettings() {
    return { ...this.settings };
  }
  stop() {
    this.readyState = 'ended';
  }
}

/** A MediaStream stand-in. */
export class FakeMediaStream {
  /** @type {FakeTrack[]} */
  #tracks;
  /** @param {FakeTrack[]} [tracks] @param {string} [id] */
  constructor(tracks = [], id = `stream-${++fakeIds}`) {
    this.#tracks = [...tracks];
    this.id = id;
  }
  getTracks() {
    return [...this.#tracks];
  }
  getAudioTracks() {
    return this.#tracks.filter((t) => t.kind === 'audio');
  }
  getVideoTracks() {
    return this.#tracks.filter((t) => t.kind === 'video');
  }
  /** @param {FakeTrack} t */
  addTrack(t) {
    if (!this.#tracks.includes(t)) this.#tracks.push(t);
  }
  /** @param {FakeTrack} t */
  removeTrack(t) {
    this.#tracks = this.#tracks.filter((x) => x !== t);
  }
}

/** An RTCIceTransport stand-in that can report a new selected pair. */
export class FakeIceTransport extends EventTarget {
  onselectedcandidatepairchange = null;
  changePair() {
    this.dispatchEvent(new Event('selectedcandidatepairchange'));
  }
}

const hasSend = (/** @type {string|null} */ d) => d === 'sendrecv' || d === 'sendonly';
const hasRecv = (/** @type {string|null} */ d) => d === 'sendrecv' || d === 'recvonly';
const dir = (/** @type {boolean} */ send, /** @type {boolean} */ recv) =>
  send ? (recv ? 'sendrecv' : 'sendonly') : recv ? 'recvonly' : 'inactive';
const reverse = (/** @type {string} */ d) => dir(hasRecv(d), hasSend(d));
let mids = 0;

/** An RTCRtpSender stand-in. */
class FakeSender {
  /** @type {FakeMediaStream[]} */
  streams = [];
  /** @type {object[]} the encodings (sendEncodings) as set now */
  encodings = [{}];
  /** @type {object[][]} the encodings of each setParameters, in order */
  setParametersCalls = [];
  /** @type {string|null} the transaction of the last getParameters, until a setParameters ends it */
  #transaction = null;
  #transactions = 0;
  #setting = false;
  /** @param {FakePeerConnection} pc @param {FakeTrack|null} track */
  constructor(pc, track) {
    this.pc = pc;
    this.track = track;
  }
  /** @param {FakeTrack|null} track */
  async replaceTrack(track) {
    if (track && this.pc.getTransceivers().find((t) => t.sender === this)?.kind !== track.kind) throw new TypeError('kind mismatch');
    this.track = track;
  }
  getParameters() {
    this.#transaction = String(++this.#transactions);
    return { transactionId: this.#transaction, encodings: this.encodings.map((e) => ({ ...e })) };
  }
  /**
   * As browsers: the parameters of the last getParameters only, and not
   * while another setParameters is under way; it settles a task later.
   * @param {{transactionId: string, encodings: object[]}} params
   */
  async setParameters(params) {
    if (this.#setting || params.transactionId !== this.#transaction) throw new Error('InvalidStateError: stale parameters');
    this.#setting = true;
    await new Promise((r) => setTimeout(r, 1));
    this.#setting = false;
    this.#transaction = null;
    this.encodings = params.encodings.map((e) => ({ ...e }));
    this.setParametersCalls.push(this.encodings);
  }
  /** @param {...FakeMediaStream} streams */
  setStreams(...streams) {
    this.streams = streams;
  }
}

/** An RTCRtpTransceiver stand-in. */
class FakeTransceiver {
  /** @type {string|null} */ mid = null;
  /** @type {string|null} */ currentDirection = null;
  stopped = false;
  everSent = false;
  /** whether this side's receiver gets media (fired "track") */
  receiving = false;
  /** @type {{role: 'offer'|'answer', dir: string, offered?: string}|null} last negotiated */
  negotiated = null;
  /** @type {{role: 'offer', dir: string}|null} in the local offer not yet answered */
  pending = null;
  midFromPendingOffer = false;
  #direction;
  /**
   * @param {FakePeerConnection} pc
   * @param {string} kind
   * @param {string} direction
   * @param {FakeTrack|null} track
   * @param {boolean} byAddTrack
   */
  constructor(pc, kind, direction, track, byAddTrack) {
    this.pc = pc;
    this.kind = kind;
    this.#direction = direction;
    this.byAddTrack = byAddTrack;
    this.sender = new FakeSender(pc, track);
    this.receiver = { track: new FakeTrack(kind, `remote-${kind}-${++fakeIds}`) };
  }
  get direction() {
    return this.#direction;
  }
  set direction(d) {
    if (this.pc.signalingState === 'closed') throw new Error('InvalidStateError: closed');
    if (d === this.#direction) return;
    this.#direction = d;
    this.pc.changed();
  }
}

/**
 * Just enough of RTCPeerConnection for PeerLink and Room, with a miniature
 * JSEP for media: descriptions whose sdp is "fake:{...}" carry m-lines
 * ({mid, kind, dir, msid}) and the ICE generation, so two fakes wired
 * together negotiate transceivers, directions and track events as browsers
 * do (addTrack reuse, implicit rollback, negotiationneeded when stable).
 * Data channels do not fire negotiationneeded, and descriptions without
 * media or ICE restart keep the plain sdp "offer-sdp" / "answer-sdp".
 */
export class FakePeerConnection {
  /** @type {FakePeerConnection[]} */
  static instances = [];
  connectionState = 'new';
  signalingState = 'stable';
  /** @type {{type: string, sdp: string}|null} */
  localDescription = null;
  /** @type {{type: string, sdp: string}|null} */
  remoteDescription = null;
  /** @type {FakeChannel[]} */
  channels = [];
  /** @type {string[]} */
  log = [];
  failCandidates = false;
  /** @type {FakeTransceiver[]} */
  transceivers = [];
  /** what getStats returns: stats objects with an id each */
  /** @type {any[]} */
  stats = [];
  /** @type {any} set to {transport: {iceTransport}} to offer pair events */
  sctp = null;
  /** ICE generation: one more per ICE restart offered */
  iceGeneration = 0;
  restartIceCalls = 0;
  #restartPending = false;
  #restartInOffer = false;
  /** @type {any[]} m-lines of the remote offer being answered */
  #remoteMedia = [];
  /** @type {Map<string, FakeMediaStream>} remote streams by msid */
  #remoteStreams = new Map();
  #checkScheduled = false;
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
  /** @param {string} label @param {object} [options] */
  createDataChannel(label, options) {
    const ch = new FakeChannel(label, options);
    this.channels.push(ch);
    return ch;
  }
  getTransceivers() {
    return [...this.transceivers];
  }
  getSenders() {
    return this.transceivers.map((t) => t.sender);
  }
  getReceivers() {
    return this.transceivers.map((t) => t.receiver);
  }
  /** @param {FakeTrack} track @param {...FakeMediaStream} streams */
  addTrack(track, ...streams) {
    if (this.signalingState === 'closed') throw new Error('InvalidStateError: closed');
    if (this.transceivers.some((t) => t.sender.track === track)) throw new Error('InvalidAccessError: track already has a sender');
    // As the spec: reuse a transceiver of the kind that never sent and has no track.
    let t = this.transceivers.find((x) => !x.stopped && x.kind === track.kind && x.sender.track === null && !x.everSent);
    if (t) {
      t.sender.track = track;
      t.direction = dir(true, hasRecv(t.direction));
    } else {
      t = new FakeTransceiver(this, track.kind, 'sendrecv', track, true);
      this.transceivers.push(t);
    }
    t.sender.streams = streams;
    this.changed();
    return t.sender;
  }
  /**
   * @param {FakeTrack|string} trackOrKind
   * @param {{direction?: string, streams?: FakeMediaStream[], sendEncodings?: object[]}} [init]
   */
  addTransceiver(trackOrKind, init = {}) {
    if (this.signalingState === 'closed') throw new Error('InvalidStateError: closed');
    const track = typeof trackOrKind === 'string' ? null : trackOrKind;
    const kind = typeof trackOrKind === 'string' ? trackOrKind : trackOrKind.kind;
    const t = new FakeTransceiver(this, kind, init.direction ?? 'sendrecv', track, false);
    t.sender.streams = init.streams ?? [];
    t.sender.encodings = (init.sendEncodings ?? [{}]).map((e) => ({ ...e }));
    this.transceivers.push(t);
    this.changed();
    return t;
  }
  restartIce() {
    this.restartIceCalls++;
    this.#restartPending = true;
    this.changed();
  }
  async getStats() {
    if (this.signalingState === 'closed') throw new Error('InvalidStateError: closed');
    return new Map(this.stats.map((s) => [s.id, s]));
  }
  /**
   * The remote side opened a data channel (ondatachannel fires).
   * @param {string} label @param {object} [options]
   */
  remoteChannel(label, options) {
    const ch = new FakeChannel(label, options);
    this.ondatachannel?.({ channel: ch });
    return ch;
  }
  /** Sets connectionState and fires the change, as the ICE agent would. */
  setConnectionState(/** @type {string} */ s) {
    this.connectionState = s;
    this.onconnectionstatechange?.();
  }
  /** @param {{type: string, sdp: string}} d */
  async setRemoteDescription(d) {
    this.log.push(`setRemoteDescription ${d.type}`);
    if (d.type !== 'rollback') this.remoteDescription = { type: d.type, sdp: d.sdp };
    const { media } = parseSdp(d.sdp);
    if (d.type === 'offer') {
      if (this.signalingState === 'have-local-offer') this.#rollback(); // implicit rollback
      for (const m of media) {
        let t = this.transceivers.find((x) => x.mid === m.mid);
        // A remote m-line that can carry our media takes a free addTrack transceiver.
        t ??= hasRecv(m.dir) ? this.transceivers.find((x) => x.byAddTrack && x.mid === null && !x.stopped && x.kind === m.kind) : undefined;
        if (!t) {
          t = new FakeTransceiver(this, m.kind, 'recvonly', null, false);
          this.transceivers.push(t);
        }
        t.mid = m.mid;
        this.#remoteSends(t, m);
      }
      this.#remoteMedia = media;
      this.signalingState = 'have-remote-offer';
    } else {
      if (this.signalingState !== 'have-local-offer') throw new Error(`InvalidStateError: answer in ${this.signalingState}`);
      for (const m of media) {
        const t = this.transceivers.find((x) => x.mid === m.mid);
        if (!t) continue;
        t.currentDirection = reverse(m.dir);
        if (hasSend(t.currentDirection)) t.everSent = true;
        t.negotiated = t.pending;
        this.#remoteSends(t, m);
      }
      for (const t of this.transceivers) {
        t.midFromPendingOffer = false;
        t.pending = null;
      }
      this.#restartInOffer = false;
      this.signalingState = 'stable';
      this.changed();
    }
  }
  /** @param {{type: string}} [d] */
  async setLocalDescription(d) {
    if (d?.type === 'rollback') {
      this.log.push('setLocalDescription rollback');
      this.#rollback();
      this.changed();
      return;
    }
    const type = this.signalingState === 'have-remote-offer' ? 'answer' : 'offer';
    this.log.push(`setLocalDescription ${type}`);
    let media;
    if (type === 'offer') {
      for (const t of this.transceivers) {
        if (t.stopped || t.mid !== null) continue;
        t.mid = `m${++mids}`;
        t.midFromPendingOffer = true;
      }
      if (this.#restartPending) {
        this.#restartPending = false;
        this.#restartInOffer = true;
        this.iceGeneration++;
      }
      const live = this.transceivers.filter((t) => t.mid !== null && !t.stopped);
      media = live.map((t) => ({ mid: t.mid, kind: t.kind, dir: t.direction, msid: t.sender.streams.map((s) => s.id) }));
      for (const t of live) t.pending = { role: 'offer', dir: t.direction };
      this.signalingState = 'have-local-offer';
    } else {
      media = this.#remoteMedia.map((m) => {
        const t = /** @type {FakeTransceiver} */ (this.transceivers.find((x) => x.mid === m.mid));
        const answered = dir(hasSend(t.direction) && hasRecv(m.dir), hasRecv(t.direction) && hasSend(m.dir));
        t.currentDirection = answered;
        if (hasSend(answered)) t.everSent = true;
        t.negotiated = { role: 'answer', dir: answered, offered: m.dir };
        return { mid: m.mid, kind: t.kind, dir: answered, msid: t.sender.streams.map((s) => s.id) };
      });
      this.signalingState = 'stable';
      this.changed();
    }
    const plain = media.length === 0 && this.iceGeneration === 0;
    this.localDescription = { type, sdp: plain ? `${type}-sdp` : `fake:${JSON.stringify({ media, ice: this.iceGeneration })}` };
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
  /** Something that may need negotiation changed: check once stable, as browsers do. */
  changed() {
    if (this.#checkScheduled) return;
    this.#checkScheduled = true;
    setTimeout(() => {
      this.#checkScheduled = false;
      if (this.signalingState === 'stable' && this.#needed()) this.onnegotiationneeded?.();
    }, 0);
  }
  #needed() {
    if (this.#restartPending) return true;
    return this.transceivers.some((t) => {
      if (t.stopped) return false;
      if (t.mid === null || !t.negotiated) return true;
      if (t.negotiated.role === 'offer') return t.negotiated.dir !== t.direction;
      const offered = /** @type {string} */ (t.negotiated.offered);
      return t.negotiated.dir !== dir(hasSend(t.direction) && hasRecv(offered), hasRecv(t.direction) && hasSend(offered));
    });
  }
  #rollback() {
    for (const t of this.transceivers) {
      if (t.midFromPendingOffer) t.mid = null;
      t.midFromPendingOffer = false;
      t.pending = null;
    }
    if (this.#restartInOffer) {
      this.#restartInOffer = false;
      this.#restartPending = true;
      this.iceGeneration--;
    }
    this.signalingState = 'stable';
  }
  /**
   * The remote side's direction for an m-line decides whether our receiver
   * gets media: "track" when it starts, the track leaves its streams when it stops.
   * @param {FakeTransceiver} t
   * @param {{dir: string, msid?: string[]}} m
   */
  #remoteSends(t, m) {
    const sends = hasSend(m.dir);
    const track = t.receiver.track;
    if (sends && !t.receiving) {
      t.receiving = true;
      const streams = (m.msid ?? []).map((id) => {
        let s = this.#remoteStreams.get(id);
        if (!s) this.#remoteStreams.set(id, (s = new FakeMediaStream([], id)));
        s.addTrack(track);
        return s;
      });
      this.ontrack?.({ track, streams, transceiver: t, receiver: t.receiver });
    } else if (!sends && t.receiving) {
      t.receiving = false;
      for (const s of this.#remoteStreams.values()) s.removeTrack(track);
    }
  }
}

/**
 * The m-lines of a description: "fake:" JSON, or the audio and video
 * sections of SDP text (as a server sends it; see sdpOffer).
 * @param {string} sdp
 */
function parseSdp(sdp) {
  if (typeof sdp === 'string' && sdp.startsWith('fake:')) return JSON.parse(sdp.slice(5));
  const media = mediaSections(sdp)
    .filter((m) => m.kind === 'audio' || m.kind === 'video')
    .map((m) => ({ mid: m.mid, kind: m.kind, dir: m.port === 0 ? 'inactive' : m.direction, msid: m.stream ? [m.stream] : [] }));
  return { media, ice: 0 };
}

/**
 * SDP text of an offer with the given media sections (a data section first,
 * as a server with data channels puts it), for fakes of the SFU's offers.
 * @param {{mid: string, kind: string, dir?: string, stream?: string, track?: string, port?: number}[]} sections
 */
export function sdpOffer(sections) {
  const lines = ['v=0', 'o=- 1 2 IN IP4 0.0.0.0', 's=-', 't=0 0', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=mid:data'];
  for (const m of sections) {
    lines.push(`m=${m.kind} ${m.port ?? 9} UDP/TLS/RTP/SAVPF ${m.kind === 'audio' ? 111 : 96}`, `a=mid:${m.mid}`, `a=${m.dir ?? 'sendonly'}`);
    if (m.stream) lines.push(`a=msid:${m.stream} ${m.track ?? ''}`);
  }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * What the SFU does to a client's envelope (envelope.js): the sender's id
 * instead of the target's, the flags and the rest kept.
 * @param {Uint8Array} envelope
 * @param {string} from
 * @returns {ArrayBuffer}
 */
export function relayEnvelope(envelope, from) {
  const n = envelope[1];
  const id = new TextEncoder().encode(from);
  const out = new Uint8Array(2 + id.length + envelope.length - 2 - n);
  out[0] = envelope[0];
  out[1] = id.length;
  out.set(id, 2);
  out.set(envelope.subarray(2 + n), 2 + id.length);
  return out.buffer;
}

/**
 * A ResizeObserver stand-in: resize(el, width, height) reports a new
 * content box for an observed element.
 */
export class FakeResizeObserver {
  /** @type {FakeResizeObserver[]} */
  static instances = [];
  /** @type {Set<any>} */
  observed = new Set();
  /** @param {(entries: any[]) => void} callback */
  constructor(callback) {
    this.callback = callback;
    FakeResizeObserver.instances.push(this);
  }
  /** @param {any} el */
  observe(el) {
    this.observed.add(el);
  }
  /** @param {any} el */
  unobserve(el) {
    this.observed.delete(el);
  }
  disconnect() {
    this.observed.clear();
  }
  /** @param {any} el @param {number} width @param {number} height */
  resize(el, width, height) {
    if (this.observed.has(el)) this.callback([{ target: el, contentRect: { width, height } }]);
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
    /** Frames sent while closing or closed: a browser drops them and logs a console error. */
    droppedSends = 0;
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
      if (this.readyState === 0) throw new Error('InvalidStateError: still connecting');
      if (this.readyState !== 1) {
        this.droppedSends++;
        return;
      }
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
    /** The server has started the closing handshake: no close event yet. */
    serverClosing() {
      if (this.readyState === 1) this.readyState = 2;
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
 * A server with session resume as docs/protocol.md describes it: every
 * welcome carries a resume token (R1, R2, ...; single use) and the grace
 * period; frames to a session are numbered per session, kept, and replayed
 * after the hello's lastSeq to a hello that resumes it (welcome resumed:true
 * with lastSeq); an unknown token gets a new session with resumeError
 * session_unknown. Peer ids p1, p2, ...; joins are answered with `peers`.
 * For tests: send(session, frame) queues a frame to a session (delivered
 * when it is connected and session.deliver is true, kept either way);
 * expire(session) ends a session; socket.deaf drops what the client sends;
 * session.received lists every frame it got after the hello.
 * @param {{peers?: any[], grace?: number, expires?: number, iceServers?: any[],
 *   onFrame?: (ws: any, frame: any, session: any) => boolean|void}} [opts]
 *   onFrame may handle a frame itself by returning true.
 */
export function resumeServer({ peers = [], grace = 30, expires, iceServers, onFrame } = {}) {
  let n = 0;
  let tokens = 0;
  /** @type {Map<string, any>} sessions by resume token */
  const byToken = new Map();
  /** @type {any[]} */
  const sessions = [];
  /** @param {any} session @param {object} frame */
  const send = (session, frame) => {
    const f = { ...frame, seq: ++session.seq };
    session.log.push(f);
    if (session.deliver && session.ws) session.ws.reply(f, { noSeq: true });
    return f;
  };
  /** @param {any} ws @param {any} session @param {object} extra */
  const welcome = (ws, session, extra) => {
    const resume = `R${++tokens}`;
    byToken.set(resume, session);
    session.resume = resume;
    ws.reply(
      { type: 'welcome', peer: session.peer, session: session.session, user: 'u', name: 'U', limits: {}, iceServers, expires, resume, resumeGrace: grace, ...extra },
      { noSeq: true },
    );
  };
  const srv = fakeWebSocket({
    onFrame(ws, f) {
      if (ws.deaf) return;
      if (f.type === 'hello') {
        const old = f.resume === undefined ? undefined : byToken.get(f.resume);
        if (f.resume !== undefined) byToken.delete(f.resume);
        if (old && !old.ended && f.lastSeq <= old.seq) {
          if (old.ws && old.ws !== ws && old.ws.readyState === 1) old.ws.serverClose(4409, 'session resumed on another connection');
          old.ws = ws;
          old.deliver = true;
          old.resumes++;
          ws.session = old;
          welcome(ws, old, { resumed: true, lastSeq: old.seq });
          for (const fr of old.log) if (fr.seq > f.lastSeq) ws.reply(fr, { noSeq: true });
          return;
        }
        if (old) old.ended = true;
        const session = { peer: `p${++n}`, session: `s${n}`, seq: 0, log: [], received: [], ws, deliver: true, resumes: 0, ended: false, resume: null };
        sessions.push(session);
        ws.session = session;
        const refused = f.resume === undefined ? {} : { resumeError: { code: old ? 'seq_out_of_range' : 'session_unknown', message: 'not resumed' } };
        welcome(ws, session, { resumed: false, ...refused });
        return;
      }
      const session = ws.session;
      if (!session || session.ws !== ws) return;
      session.received.push(f);
      if (onFrame?.(ws, f, session)) return;
      switch (f.type) {
        case 'ping':
          send(session, { type: 'pong', id: f.id });
          break;
        case 'join':
          send(session, { type: 'joined', room: f.room, peers, id: f.id });
          break;
        default:
          if (f.id !== undefined) send(session, { type: 'ack', id: f.id });
      }
    },
  });
  return {
    ...srv,
    sessions,
    send,
    /** @param {any} session */
    expire(session) {
      session.ended = true;
      byToken.delete(session.resume);
    },
  };
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

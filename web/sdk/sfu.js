// The link of a room in "sfu" mode: two RTCPeerConnections to the server,
// so that negotiation never collides (docs/sdk.md, "SFU rooms"; the messages
// in docs/protocol.md, the sfu frame).
// `sub` is offered by the server (at once, with the data channels, and again
// whenever the tracks forwarded to us change): this side only answers, in
// order. `pub` is made by this side on the first publish and offered by it
// (sendonly transceivers, simulcast for large video), the server answers.
// SFU messages leave through the `send` callback (the room's outbox) and come
// back through handle(). The link knows nothing of the WebSocket.

import { hasSend, ownsIceServers, peerConfig, planSenders } from './media.js';
import { CHANNEL_LABEL, UNRELIABLE_LABEL, adoptChannel, decodeData } from './peer.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { mediaSections } from './sdp.js';
import { SizeReporter } from './sizes.js';
import { statsList, summarizeStats } from './stats.js';

/** Video at least this wide (px) is published in three simulcast layers. */
export const SIMULCAST_MIN_WIDTH = 640;

/** The simulcast layers of a large video track, lowest first. */
export const SIMULCAST_ENCODINGS = Object.freeze([
  Object.freeze({ rid: 'low', scaleResolutionDownBy: 4, maxBitrate: 150_000 }),
  Object.freeze({ rid: 'medium', scaleResolutionDownBy: 2, maxBitrate: 500_000 }),
  Object.freeze({ rid: 'high', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 }),
]);

/** What Room.setQuality takes. */
export const QUALITIES = Object.freeze(['low', 'medium', 'high', 'auto']);

/**
 * The sendEncodings of a published track: three simulcast layers for video
 * at least SIMULCAST_MIN_WIDTH wide, otherwise none (one encoding).
 * @param {MediaStreamTrack} track
 * @returns {RTCRtpEncodingParameters[]|undefined}
 */
export function encodingsFor(track) {
  if (track.kind !== 'video') return undefined;
  const width = /** @type {any} */ (track).getSettings?.().width ?? 0;
  if (width < SIMULCAST_MIN_WIDTH) return undefined;
  return SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
}

/**
 * @typedef {import('./peer.js').PeerState} PeerState
 * @typedef {import('./stats.js').PeerStats} PeerStats
 * @typedef {import('./stats.js').StatsSample} StatsSample
 *
 * @typedef {object} Remote a track forwarded to us, on one sub transceiver
 * @property {string} id the SFU's track id (`<publisher>:<its track id>`)
 * @property {string} peer the publisher
 * @property {string} kind
 * @property {MediaStreamTrack} track the receiver's track
 * @property {() => void} ended listener of the track's "ended"
 *
 * @typedef {object} SfuLinkOptions
 * @property {(msg: object) => void} send an SFU message to the server
 * @property {RTCIceServer[]} [iceServers] from the server
 * @property {RTCConfiguration} [rtcConfig] the app's settings; its iceServers, if any, replace the server's
 * @property {(peer: string, track: MediaStreamTrack, stream: MediaStream) => void} [onTrack]
 * @property {(peer: string, track: MediaStreamTrack, stream: MediaStream) => void} [onTrackEnded]
 * @property {(peer: string, data: unknown) => void} [onData] a data channel message from a peer
 * @property {(raw: unknown) => void} [onMessage] instead of onData: each message as it
 *   came, an envelope not opened yet (auto rooms, see dataseq.js)
 * @property {(state: PeerState) => void} [onState] the link's state changed
 * @property {(peers: string[]) => void} [onSpeakers]
 * @property {(peer: string, track: string, layer: string, paused: boolean, media: MediaStreamTrack|undefined) => void} [onLayer]
 * @property {(code: string, message: string) => void} [onServerError] an SFU error message
 * @property {(err: Error) => void} [onError] negotiation failed
 * @property {number} [sizeInterval] least ms between two size messages of a track, for tests
 * @property {typeof RTCPeerConnection} [RTCPeerConnection] constructor to use
 * @property {typeof MediaStream} [MediaStream] constructor to use for remote streams
 */

export class SfuLink {
  /** @type {PeerState} */
  state = 'connecting';
  /** @type {RTCPeerConnection} the server's offers, the data channels */
  sub;
  /** @type {RTCPeerConnection|null} what this side publishes; made on the first publish */
  pub = null;
  #opts;
  #PC;
  #closed = false;
  #everOpen = false;
  /** @type {RTCDataChannel[]} */
  #reliable = [];
  /** @type {RTCDataChannel[]} */
  #unreliable = [];
  /** @type {Promise<void>} SFU messages, handled one after another */
  #queue = Promise.resolve();
  /** @type {Promise<void>} publish changes, one after another */
  #media = Promise.resolve();
  /** @type {{t: RTCRtpTransceiver, kind: string}[]} pub transceivers, reused by later publishes */
  #owned = [];
  /** @type {Map<RTCRtpTransceiver, Remote>} what each sub transceiver carries now */
  #remote = new Map();
  /** @type {Map<string, MediaStream>} one stream per publisher */
  #streams = new Map();
  /** @type {Map<string, {width: number, height: number}>} how large each peer's video is shown */
  #sizes = new Map();
  /** @type {Map<string, StatsSample>} the last stats sample of each peer */
  #samples = new Map();
  #reporter;
  /** @type {Map<RTCRtpSender, {inactive: Set<string>, busy: Promise<void>}>} the layers the server wants paused, per simulcast sender */
  #layers = new Map();
  /** @type {{pub: RTCIceCandidateInit[], sub: RTCIceCandidateInit[]}} server candidates that came before their description */
  #early = { pub: [], sub: [] };

  /** @param {SfuLinkOptions} opts */
  constructor(opts) {
    const PC = opts.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    if (typeof PC !== 'function') throw new Error('switchboard: RTCPeerConnection is not available');
    this.#PC = PC;
    this.#opts = opts;
    this.#reporter = new SizeReporter((track, width, height) => this.#send({ kind: 'size', track, width, height }), opts.sizeInterval);
    this.sub = this.#makePC('sub');
    this.sub.onconnectionstatechange = () => this.#update();
    this.sub.ondatachannel = ({ channel }) => {
      if (channel.label === CHANNEL_LABEL) this.#adopt(channel, this.#reliable);
      else if (channel.label === UNRELIABLE_LABEL) this.#adopt(channel, this.#unreliable);
    };
  }

  /**
   * An SFU message from the server; handled in the order they came, each
   * once the one before is through (an offer is answered before the next
   * one is looked at).
   * @param {unknown} msg
   */
  handle(msg) {
    if (this.#closed || !msg || typeof msg !== 'object') return;
    this.#queue = this.#queue.then(() => this.#handle(/** @type {any} */ (msg))).catch((err) => this.#fail(err));
  }

  /**
   * Sends the tracks of a stream to the server, replacing what was sent; null
   * stops sending (the transceivers go inactive and keep their m-lines for a
   * later publish). Changes renegotiate through negotiationneeded.
   * @param {MediaStream|null} stream
   * @returns {Promise<void>} settles when the senders are set (errors go to onError)
   */
  publish(stream) {
    this.#media = this.#media.then(() => this.#publish(stream)).catch((err) => this.#fail(err));
    return this.#media;
  }

  /**
   * Sends a message made by encodeData to one peer or (to null) to every
   * other one, through the server. False when the channel is not open.
   * Throws for what the envelope cannot carry (a Blob, too large) and when
   * the channel refuses it.
   * @param {string|ArrayBuffer|ArrayBufferView|Blob} message
   * @param {string|null} to
   * @param {{reliable?: boolean}} [opts]
   */
  sendRaw(message, to, opts) {
    return this.sendBytes(encodeEnvelope(message, to), opts);
  }

  /**
   * Sends an envelope made already (auto rooms number their messages, see
   * dataseq.js). False when the channel is not open.
   * @param {Uint8Array} envelope
   * @param {{reliable?: boolean}} [opts]
   */
  sendBytes(envelope, opts) {
    const channel = (opts?.reliable === false ? this.#unreliable : this.#reliable).find((c) => c.readyState === 'open');
    if (!channel) return false;
    channel.send(/** @type {any} */ (envelope));
    return true;
  }

  /**
   * The stream of a publisher's tracks: one object for the life of the link.
   * @param {string} peer
   * @returns {MediaStream|undefined} undefined where there is no MediaStream
   */
  remoteStream(peer) {
    let stream = this.#streams.get(peer);
    if (!stream) {
      const MS = this.#opts.MediaStream ?? globalThis.MediaStream;
      if (typeof MS !== 'function') return undefined;
      stream = new MS();
      this.#streams.set(peer, stream);
    }
    return stream;
  }

  /**
   * A peer left the room: its tracks end, its stream and sizes are dropped.
   * @param {string} peer
   */
  dropPeer(peer) {
    for (const [t, r] of this.#remote) if (r.peer === peer) this.#end(t, r);
    this.#streams.delete(peer);
    this.#sizes.delete(peer);
    this.#samples.delete(peer);
  }

  /**
   * The manual layer choice for a publisher's video.
   * @param {string} peer
   * @param {string} quality one of QUALITIES
   */
  setQuality(peer, quality) {
    this.#send({ kind: 'quality', peer, quality });
  }

  /**
   * How large a peer's video is shown (0x0: not shown): sent for each of its
   * video tracks, now and when new ones come, throttled per track.
   * @param {string} peer
   * @param {number} width
   * @param {number} height
   */
  setSize(peer, width, height) {
    this.#sizes.set(peer, { width, height });
    for (const r of this.#remote.values()) if (r.peer === peer && r.kind === 'video') this.#reporter.set(r.id, width, height);
  }

  /**
   * Statistics of one peer's tracks: the sub PC's transport and candidate
   * pair, and the inbound RTP of that peer's tracks only; connectionType
   * "sfu". Bitrates compare with the previous call for the same peer.
   * @param {string} peer
   * @returns {Promise<PeerStats|null>} null once the link is closed
   */
  async getStats(peer) {
    if (this.#closed) return null;
    const report = await this.sub.getStats();
    if (this.#closed) return null;
    const mids = new Set();
    const ids = new Set();
    for (const [t, r] of this.#remote) {
      if (r.peer !== peer) continue;
      if (t.mid !== null) mids.add(t.mid);
      ids.add(r.track.id);
    }
    const mine = statsList(report).filter(
      (s) => s.type !== 'outbound-rtp' && (s.type !== 'inbound-rtp' || mids.has(s.mid) || ids.has(s.trackIdentifier)),
    );
    const { stats, sample } = summarizeStats(mine, this.#samples.get(peer));
    this.#samples.set(peer, sample);
    return { ...stats, connectionType: 'sfu' };
  }

  /**
   * Replaces the ICE servers of both PeerConnections (fresh TURN
   * credentials). Ignored when the app's rtcConfig names its own.
   * @param {RTCIceServer[]} iceServers
   */
  setIceServers(iceServers) {
    if (this.#closed || ownsIceServers(this.#opts.rtcConfig)) return;
    for (const pc of [this.sub, this.pub]) {
      if (!pc) continue;
      try {
        pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
      } catch (err) {
        this.#fail(err);
      }
    }
  }

  /** Closes both PeerConnections for good; the remote tracks end. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#reporter.close();
    for (const c of [...this.#reliable, ...this.#unreliable]) c.close();
    this.#reliable = [];
    this.#unreliable = [];
    this.sub.close();
    this.pub?.close();
    for (const [t, r] of this.#remote) this.#end(t, r);
    this.#update();
  }

  /** @param {'pub'|'sub'} name */
  #makePC(name) {
    const pc = new this.#PC(peerConfig(this.#opts.rtcConfig, this.#opts.iceServers));
    pc.onicecandidate = ({ candidate }) => {
      if (this.#closed) return;
      // An empty candidate ends a generation; null ends gathering.
      if (candidate && !candidate.candidate) return;
      const init = candidate && (typeof candidate.toJSON === 'function' ? candidate.toJSON() : candidate);
      this.#send({ kind: 'candidate', pc: name, candidate: init ?? null });
    };
    return pc;
  }

  /** @param {object} msg */
  #send(msg) {
    if (!this.#closed) this.#opts.send(msg);
  }

  /**
   * Adds the candidates that came before the remote description of pc.
   * @param {'pub'|'sub'} name
   */
  async #flushCandidates(name) {
    const pc = name === 'pub' ? this.pub : this.sub;
    const early = this.#early[name];
    this.#early[name] = [];
    for (const c of early) if (pc && !this.#closed) await pc.addIceCandidate(c);
  }

  /** @param {{kind?: unknown, pc?: unknown, sdp?: unknown, [key: string]: any}} msg */
  async #handle(msg) {
    if (this.#closed) return;
    switch (msg.kind) {
      case 'offer':
        if (msg.pc === 'sub' || msg.pc === undefined) await this.#answer(String(msg.sdp ?? ''), msg.tracks);
        return;
      case 'answer':
        if (msg.pc === 'pub' && this.pub?.signalingState === 'have-local-offer') {
          await this.pub.setRemoteDescription({ type: 'answer', sdp: String(msg.sdp ?? '') });
          await this.#flushCandidates('pub');
        }
        return;
      case 'candidate': {
        const pc = msg.pc === 'pub' ? this.pub : msg.pc === 'sub' ? this.sub : null;
        // End of candidates (null) needs nothing: ICE goes on without it.
        if (!pc || !msg.candidate || typeof msg.candidate !== 'object') return;
        // The server may send a candidate before the description it belongs
        // to: keep it until that description is set.
        if (!pc.remoteDescription) this.#early[msg.pc === 'pub' ? 'pub' : 'sub'].push(msg.candidate);
        else await pc.addIceCandidate(msg.candidate);
        return;
      }
      case 'layer': {
        if (typeof msg.track !== 'string') return;
        const r = [...this.#remote.values()].find((x) => x.id === msg.track);
        const peer = typeof msg.peer === 'string' ? msg.peer : r?.peer;
        if (peer) this.#opts.onLayer?.(peer, msg.track, String(msg.layer ?? ''), msg.paused === true, r?.track);
        return;
      }
      case 'layers':
        this.#setLayers(msg.track, msg.inactive);
        return;
      case 'speakers':
        if (Array.isArray(msg.peers)) this.#opts.onSpeakers?.(msg.peers.filter((p) => typeof p === 'string'));
        return;
      case 'error':
        this.#opts.onServerError?.(String(msg.code ?? 'error'), String(msg.message ?? ''));
        return;
    }
  }

  /**
   * Answers an offer of the server, then follows its tracks map: which
   * publisher each transceiver's track belongs to now.
   * @param {string} sdp
   * @param {unknown} tracks
   */
  async #answer(sdp, tracks) {
    await this.sub.setRemoteDescription({ type: 'offer', sdp });
    if (this.#closed) return;
    await this.#flushCandidates('sub');
    await this.sub.setLocalDescription();
    if (this.#closed) return;
    this.#send({ kind: 'answer', pc: 'sub', sdp: this.sub.localDescription?.sdp ?? '' });
    this.#syncTracks(sdp, tracks && typeof tracks === 'object' ? /** @type {Record<string, any>} */ (tracks) : {});
  }

  /**
   * A transceiver carries a peer's track when its section in the offer
   * sends, its msid's track id is in the tracks map and the map names the
   * peer. What changed against the last offer ends and starts tracks.
   * @param {string} sdp
   * @param {Record<string, any>} tracks
   */
  #syncTracks(sdp, tracks) {
    const byMid = new Map(mediaSections(sdp).map((s) => [s.mid, s]));
    for (const t of this.sub.getTransceivers()) {
      const s = t.mid === null ? undefined : byMid.get(t.mid);
      const id = s && s.port !== 0 && hasSend(s.direction) ? s.track : null;
      const info = id !== null && Object.hasOwn(tracks, id) ? tracks[id] : null;
      const peer = typeof info?.peer === 'string' && info.peer !== '' ? info.peer : null;
      const had = this.#remote.get(t);
      if (had && had.id === id && had.peer === peer) continue;
      if (had) this.#end(t, had);
      if (id !== null && peer !== null) this.#start(t, id, peer, typeof info.kind === 'string' ? info.kind : t.receiver.track.kind);
    }
  }

  /**
   * @param {RTCRtpTransceiver} t
   * @param {string} id
   * @param {string} peer
   * @param {string} kind
   */
  #start(t, id, peer, kind) {
    const track = t.receiver.track;
    /** @type {Remote} */
    const r = { id, peer, kind, track, ended: () => this.#remote.get(t) === r && this.#end(t, r) };
    this.#remote.set(t, r);
    /** @type {any} */ (track).addEventListener?.('ended', r.ended);
    const stream = this.remoteStream(peer);
    stream?.addTrack(track);
    const size = this.#sizes.get(peer);
    if (size && kind === 'video') this.#reporter.set(id, size.width, size.height);
    this.#opts.onTrack?.(peer, track, /** @type {MediaStream} */ (stream));
  }

  /**
   * @param {RTCRtpTransceiver} t
   * @param {Remote} r
   */
  #end(t, r) {
    this.#remote.delete(t);
    /** @type {any} */ (r.track).removeEventListener?.('ended', r.ended);
    this.#reporter.forget(r.id);
    const stream = this.#streams.get(r.peer);
    stream?.removeTrack(r.track);
    this.#opts.onTrackEnded?.(r.peer, r.track, /** @type {MediaStream} */ (stream));
  }

  /** @param {MediaStream|null} stream */
  async #publish(stream) {
    if (this.#closed) return;
    const tracks = stream ? stream.getTracks() : [];
    if (!this.pub) {
      if (tracks.length === 0) return;
      const pub = this.#makePC('pub');
      this.pub = pub;
      pub.onnegotiationneeded = () => this.#offer();
      // Not a peer's state (that follows sub): told as an error.
      pub.onconnectionstatechange = () => {
        if (pub.connectionState === 'failed') this.#fail(new Error('the connection publishing to the server failed'));
      };
    }
    const pc = this.pub;
    const owned = this.#owned;
    const plan = planSenders(
      owned.map((o) => ({ kind: o.kind, track: o.t.sender.track })),
      tracks,
    );
    await Promise.all(
      plan.reuse.map(async ({ index, track }) => {
        const { t } = owned[index];
        if (t.sender.track !== track) await t.sender.replaceTrack(track);
        if (t.direction !== 'sendonly') {
          t.direction = 'sendonly';
          // A new track for the server, which starts it with every layer
          // sent: so does this side.
          if (this.#layers.has(t.sender)) this.#wantLayers(t.sender, new Set());
        }
      }),
    );
    if (this.#closed) return;
    for (const track of plan.add) {
      /** @type {RTCRtpTransceiverInit} */
      const init = { direction: 'sendonly', streams: stream ? [stream] : [] };
      const sendEncodings = encodingsFor(track);
      if (sendEncodings) init.sendEncodings = sendEncodings;
      owned.push({ t: pc.addTransceiver(track, init), kind: track.kind });
    }
    await Promise.all(
      plan.idle.map(async (index) => {
        const { t } = owned[index];
        if (t.direction !== 'inactive') t.direction = 'inactive';
        if (t.sender.track) await t.sender.replaceTrack(null);
      }),
    );
  }

  /** The pub PC needs negotiation: offer (the server only answers). */
  async #offer() {
    const pc = this.pub;
    // Not stable: the browser asks again once the answer is in.
    if (this.#closed || !pc || pc.signalingState !== 'stable') return;
    try {
      await pc.setLocalDescription();
    } catch (err) {
      this.#fail(err);
      return;
    }
    if (this.#closed) return;
    this.#send({ kind: 'offer', pc: 'pub', sdp: pc.localDescription?.sdp ?? '' });
  }

  /**
   * The server asks this side to pause the simulcast layers of a published
   * track that nobody watches and to send the others (a "layers" message):
   * encodings[i].active by RID, every other parameter kept. setParameters
   * calls on one sender go one after another (a call made while another
   * is under way would fail), each applying the last wish then.
   * @param {unknown} track the track id, as this side's offer names it (its msid)
   * @param {unknown} inactive the RIDs to pause
   */
  #setLayers(track, inactive) {
    if (typeof track !== 'string' || !Array.isArray(inactive)) return;
    const sender = this.#senderOf(track);
    if (sender) this.#wantLayers(sender, new Set(inactive.filter((r) => typeof r === 'string')));
  }

  /**
   * @param {RTCRtpSender} sender
   * @param {Set<string>} inactive
   */
  #wantLayers(sender, inactive) {
    let want = this.#layers.get(sender);
    if (!want) this.#layers.set(sender, (want = { inactive, busy: Promise.resolve() }));
    const w = want;
    w.inactive = inactive;
    w.busy = w.busy.then(() => this.#applyLayers(sender, w.inactive)).catch((err) => this.#fail(err));
  }

  /**
   * The sender of a published track, by the track id the server knows it
   * by: the msid of its section in this side's description (browsers need
   * not use the MediaStreamTrack's id there), else the id of the track it
   * sends.
   * @param {string} track
   * @returns {RTCRtpSender|undefined}
   */
  #senderOf(track) {
    if (!this.pub) return undefined;
    const mid = mediaSections(this.pub.localDescription?.sdp ?? '').find((s) => s.track === track)?.mid;
    const owned = this.#owned.map((o) => o.t);
    const t = (mid != null ? owned.find((x) => x.mid === mid) : undefined) ?? owned.find((x) => x.sender.track?.id === track);
    return t?.sender;
  }

  /**
   * @param {RTCRtpSender} sender
   * @param {Set<string>} inactive
   */
  async #applyLayers(sender, inactive) {
    if (this.#closed) return;
    const params = sender.getParameters();
    let changed = false;
    for (const e of params.encodings ?? []) {
      const active = !inactive.has(e.rid ?? '');
      if (e.rid && (e.active ?? true) !== active) {
        e.active = active;
        changed = true;
      }
    }
    if (changed) await sender.setParameters(params);
  }

  /**
   * @param {RTCDataChannel} channel
   * @param {RTCDataChannel[]} list #reliable or #unreliable
   */
  #adopt(channel, list) {
    adoptChannel(channel, list, () => this.#update(), (data) => {
      if (this.#opts.onMessage) {
        this.#opts.onMessage(data);
        return;
      }
      const env = decodeEnvelope(data);
      if (env) this.#opts.onData?.(env.peer, decodeData(env.payload));
    });
  }

  /** @param {unknown} err */
  #fail(err) {
    if (this.#closed) return;
    this.#opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  #update() {
    const next = this.#compute();
    if (next === this.state) return;
    this.state = next;
    this.#opts.onState?.(next);
  }

  /** @returns {PeerState} */
  #compute() {
    if (this.#closed) return 'closed';
    const cs = this.sub.connectionState;
    if (cs === 'closed') return 'closed';
    if (cs === 'failed') return 'failed';
    if (cs === 'disconnected') return 'disconnected';
    if (this.#reliable.some((c) => c.readyState === 'open')) {
      this.#everOpen = true;
      return 'connected';
    }
    return this.#everOpen ? 'disconnected' : 'connecting';
  }
}

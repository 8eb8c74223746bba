// One WebRTC link to one remote peer: an RTCPeerConnection with two data
// channels (reliable and unreliable) and, when the room publishes, media,
// negotiated with the perfect-negotiation pattern and trickle ICE.
// Signaling data leaves through the `signal` callback as {description} or
// {candidate} and comes back through handleSignal. The link knows nothing of
// the WebSocket; the room carries its signals.

import { hasRecv, ownsIceServers, peerConfig, planSenders, withSend, withoutSend } from './media.js';
import { isPolite, onDescription, opensChannel } from './negotiation.js';
import { IceRestarts } from './restart.js';
import { connectionTypeOf, summarizeStats } from './stats.js';

export { peerConfig } from './media.js';

/** Label of the reliable, ordered data channel every link carries. */
export const CHANNEL_LABEL = 'switchboard';
/** Label of the unreliable, unordered data channel every link carries. */
export const UNRELIABLE_LABEL = 'switchboard-unreliable';
/** How the unreliable channel is created: no ordering, no retransmissions. */
export const UNRELIABLE_OPTIONS = Object.freeze({ ordered: false, maxRetransmits: 0 });

/**
 * How long the polite side of a new link holds its media back waiting for
 * the first offer (see PeerLink.publish) before it offers itself.
 */
const FIRST_OFFER_WAIT = 5000;

/**
 * Milliseconds after each (re)connection at which the selected candidate pair
 * is read again where the ICE transport does not report changes itself.
 */
const PAIR_POLLS = [1000, 3000, 10000];

/**
 * Turns application data into a data channel message: binary data is sent as
 * it is, anything else as JSON text.
 * @param {unknown} data
 * @returns {string|ArrayBuffer|ArrayBufferView|Blob}
 */
export function encodeData(data) {
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data;
  if (typeof Blob !== 'undefined' && data instanceof Blob) return data;
  const text = JSON.stringify(data);
  if (text === undefined) throw new TypeError(`cannot send ${typeof data} over a data channel`);
  return text;
}

/**
 * Turns a data channel message back into application data: text is parsed as
 * JSON (left as it is when it is not JSON), binary stays an ArrayBuffer.
 * @param {string|ArrayBuffer} raw
 * @returns {unknown}
 */
export function decodeData(raw) {
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Takes a data channel into use: binary messages as ArrayBuffers, the
 * channel in `list` until it closes, `onChange` when it opens or closes (and
 * now), `onMessage` with each message's data.
 * @param {RTCDataChannel} channel
 * @param {RTCDataChannel[]} list
 * @param {() => void} onChange
 * @param {(data: any) => void} onMessage
 */
export function adoptChannel(channel, list, onChange, onMessage) {
  channel.binaryType = 'arraybuffer';
  list.push(channel);
  channel.onopen = () => onChange();
  channel.onclose = () => {
    const i = list.indexOf(channel);
    if (i >= 0) list.splice(i, 1);
    onChange();
  };
  channel.onmessage = (ev) => onMessage(ev.data);
  onChange();
}

/**
 * @typedef {'connecting'|'connected'|'disconnected'|'failed'|'closed'} PeerState
 * @typedef {import('./stats.js').ConnectionType} ConnectionType
 * @typedef {import('./stats.js').PeerStats} PeerStats
 *
 * @typedef {object} PeerLinkOptions
 * @property {string} selfId own peer id
 * @property {string} peerId the remote peer's id
 * @property {RTCIceServer[]} [iceServers] from the server
 * @property {RTCConfiguration} [rtcConfig] the app's settings; its iceServers, if any, replace the server's
 * @property {(data: object) => void} signal sends signaling data to the remote peer
 * @property {(data: unknown) => void} [onData] a message arrived on a data channel
 * @property {(raw: string|ArrayBuffer) => void} [onMessage] instead of onData: each
 *   message as it came, undecoded (auto rooms read envelopes, see dataseq.js)
 * @property {(state: PeerState) => void} [onState] the link's state changed
 * @property {(type: ConnectionType|null) => void} [onConnectionType] the selected candidate pair changed type
 * @property {(track: MediaStreamTrack, stream: MediaStream) => void} [onTrack] a remote track arrived
 * @property {(track: MediaStreamTrack, stream: MediaStream) => void} [onTrackEnded] a remote track stopped
 * @property {(err: Error) => void} [onError] negotiation failed
 * @property {() => boolean} [canSignal] whether signals can reach the peer now
 *   (an ICE restart waits for signaling to be back); default always
 * @property {import('./restart.js').IceRestartOptions} [iceRestart] restart bookkeeping, for tests
 * @property {number[]} [pairPolls] when to re-read the selected pair without transport events, for tests
 * @property {typeof RTCPeerConnection} [RTCPeerConnection] constructor to use
 * @property {typeof MediaStream} [MediaStream] constructor to use for remote streams
 */

export class PeerLink {
  /** @type {PeerState} */
  state = 'connecting';
  /**
   * Whether the selected candidate pair is direct or relayed; null until a
   * pair is selected.
   * @type {ConnectionType|null}
   */
  connectionType = null;
  /**
   * The remote peer's live tracks (one stream for the life of the link);
   * undefined where there is no MediaStream.
   * @type {MediaStream|undefined}
   */
  remoteStream;
  /** @type {RTCDataChannel[]} */
  #reliable = [];
  /** @type {RTCDataChannel[]} */
  #unreliable = [];
  #everOpen = false;
  #closed = false;
  #makingOffer = false;
  /** @type {{type: string, sdp?: string}|null} the remote description applied last */
  #lastRemote = null;
  #ignoreOffer = false;
  #settingRemoteAnswer = false;
  /** @type {Promise<void>} incoming signals, applied one after another */
  #queue = Promise.resolve();
  /** @type {Promise<void>} publish changes, applied one after another */
  #media = Promise.resolve();
  /** @type {RTCRtpTransceiver[]} transceivers this side has sent on, reused by later publishes */
  #owned = [];
  #opts;
  #restarts;
  /** @type {any} */ #restartTimer = null;
  /** @type {any} */ #attemptTimer = null;
  /** @type {any} the watchdog of a link that has not connected yet */
  #connectTimer = null;
  /** every restart was made and none reconnected: the link stays failed */
  #gaveUp = false;
  /** @type {any} restarts ICE when the link stays disconnected */ #disconnectTimer = null;
  #awaitingSignal = false;
  /** @type {string} the pc's connectionState last seen */
  #lastCs = 'new';
  /** @type {any[]} */ #pairTimers = [];
  #pairReads = 0;
  /** @type {EventTarget|null} the ICE transport listened to */
  #ice = null;
  #onPairChange = () => this.#readPair();
  /** @type {import('./stats.js').StatsSample|null} */
  #sample = null;
  /** settles when the link's first offer/answer exchange is complete (or the link closes) */
  #firstExchange;
  /** @type {() => void} */
  #firstDone = () => {};

  /** @param {PeerLinkOptions} opts */
  constructor(opts) {
    const PC = opts.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    if (typeof PC !== 'function') throw new Error('switchboard: RTCPeerConnection is not available');
    this.#opts = opts;
    this.#restarts = new IceRestarts(opts.iceRestart);
    this.#firstExchange = new Promise((resolve) => {
      this.#firstDone = () => resolve(undefined);
    });
    this.peerId = opts.peerId;
    this.polite = isPolite(opts.selfId, opts.peerId);
    const MS = opts.MediaStream ?? globalThis.MediaStream;
    if (typeof MS === 'function') this.remoteStream = new MS();
    /** @type {RTCPeerConnection} */
    this.pc = new PC(peerConfig(opts.rtcConfig, opts.iceServers));
    const pc = this.pc;
    pc.onnegotiationneeded = () => this.#negotiate();
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && !this.#closed) opts.signal({ candidate: candidate.toJSON ? candidate.toJSON() : candidate });
    };
    pc.onconnectionstatechange = () => this.#update();
    pc.ondatachannel = ({ channel }) => {
      if (channel.label === CHANNEL_LABEL) this.#adopt(channel, this.#reliable);
      else if (channel.label === UNRELIABLE_LABEL) this.#adopt(channel, this.#unreliable);
    };
    pc.ontrack = ({ track }) => this.#addRemote(track);
    if (opensChannel(opts.selfId, opts.peerId)) {
      // Both channels before the first offer: one negotiation carries them.
      this.#adopt(pc.createDataChannel(CHANNEL_LABEL), this.#reliable);
      this.#adopt(pc.createDataChannel(UNRELIABLE_LABEL, { ...UNRELIABLE_OPTIONS }), this.#unreliable);
    }
    this.#watchConnect();
  }

  /**
   * Applies signaling data from the remote peer, in the order it arrived.
   * @param {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit}} data
   */
  handleSignal(data) {
    this.#queue = this.#queue.then(() => this.#apply(data)).catch((err) => this.#fail(err));
  }

  /**
   * Sends a message on the reliable channel, or with {reliable: false} on the
   * unreliable one. Returns false when that channel is not open (yet, or any
   * more).
   * @param {unknown} data
   * @param {{reliable?: boolean}} [opts]
   */
  send(data, opts) {
    const channel = this.#openChannel(opts);
    if (!channel) return false;
    channel.send(/** @type {any} */ (encodeData(data)));
    return true;
  }

  /**
   * Sends a message made by encodeData as it is (the room encodes a message
   * once for all its peers). Otherwise as send.
   * @param {string|ArrayBuffer|ArrayBufferView|Blob} message
   * @param {{reliable?: boolean}} [opts]
   */
  sendRaw(message, opts) {
    const channel = this.#openChannel(opts);
    if (!channel) return false;
    channel.send(/** @type {any} */ (message));
    return true;
  }

  /** @param {{reliable?: boolean}} [opts] */
  #openChannel(opts) {
    return (opts?.reliable === false ? this.#unreliable : this.#reliable).find((c) => c.readyState === 'open');
  }

  /**
   * Sends the tracks of a stream to the peer, replacing what was sent
   * before; null stops sending. Transceivers are reused through replaceTrack
   * (see planSenders), so publishing again adds no m-lines; changes of
   * direction renegotiate through negotiationneeded.
   * @param {MediaStream|null} stream
   * @returns {Promise<void>} settles when the senders are set (errors go to onError)
   */
  publish(stream) {
    this.#media = this.#media
      .then(() => this.#waitFirstExchange())
      .then(() => this.#publish(stream))
      .catch((err) => this.#fail(err));
    return this.#media;
  }

  /**
   * The polite side of a new link lets the impolite side's first offer (the
   * one that opens the data channels) complete before it adds media of its
   * own. Both sides offering at once on a new link means the polite side
   * rolls its first offer back, and Chromium then sometimes gathers no
   * candidates at all on that link (seen with relay-only links, and with
   * three peers publishing as they join): the link never connects. Later
   * collisions, on a link whose transports exist, are harmless.
   */
  async #waitFirstExchange() {
    if (!this.polite) return;
    let timer;
    await Promise.race([
      this.#firstExchange,
      new Promise((resolve) => {
        timer = setTimeout(resolve, FIRST_OFFER_WAIT);
      }),
    ]);
    clearTimeout(timer);
  }

  /**
   * Resumes what waited for signaling (an ICE restart); the room calls it
   * when it is joined again in the same session.
   */
  resume() {
    if (this.#awaitingSignal && !this.#closed) this.#restart();
  }

  /**
   * The link's statistics; bitrates compare with the previous call.
   * @returns {Promise<PeerStats|null>} null once the link is closed
   */
  async getStats() {
    if (this.#closed) return null;
    const report = await this.pc.getStats();
    if (this.#closed) return null;
    const { stats, sample } = summarizeStats(report, this.#sample);
    this.#sample = sample;
    if (stats.connectionType) this.#setConnectionType(stats.connectionType);
    return stats;
  }

  /**
   * Replaces the ICE servers, for TURN credentials refreshed by the server.
   * Ignored when the app's rtcConfig names its own ICE servers.
   * @param {RTCIceServer[]} iceServers
   */
  setIceServers(iceServers) {
    if (this.#closed || ownsIceServers(this.#opts.rtcConfig)) return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch (err) {
      this.#opts.onError?.(/** @type {Error} */ (err));
    }
  }

  /** Closes the connection for good; the remote tracks end. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#firstDone();
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#attemptTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#disconnectTimer);
    this.#clearPairWatch();
    for (const c of [...this.#reliable, ...this.#unreliable]) c.close();
    this.#reliable = [];
    this.#unreliable = [];
    this.pc.close();
    for (const track of this.remoteStream?.getTracks() ?? []) this.#removeRemote(track);
    this.#update();
  }

  async #negotiate() {
    if (this.#closed) return;
    try {
      this.#makingOffer = true;
      await this.pc.setLocalDescription();
      this.#sendDescription();
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#makingOffer = false;
    }
  }

  /** @param {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit}} data */
  async #apply({ description, candidate } = {}) {
    if (this.#closed) return;
    if (description) {
      // A description sent twice (the sender's outbox resends after a
      // refused signal) is already applied: nothing to do.
      const last = this.#lastRemote;
      if (last && this.pc.signalingState === 'stable' && last.type === description.type && last.sdp === description.sdp) return;
      const decision = onDescription({
        type: /** @type {any} */ (description.type),
        polite: this.polite,
        makingOffer: this.#makingOffer,
        signalingState: this.pc.signalingState,
        settingRemoteAnswer: this.#settingRemoteAnswer,
      });
      this.#ignoreOffer = decision.ignore;
      if (decision.ignore) return;
      this.#settingRemoteAnswer = description.type === 'answer';
      try {
        await this.pc.setRemoteDescription(description);
        this.#lastRemote = { type: description.type, sdp: description.sdp };
      } finally {
        this.#settingRemoteAnswer = false;
      }
      if (description.type === 'offer') {
        await this.pc.setLocalDescription();
        this.#sendDescription();
      }
      if (this.pc.signalingState === 'stable') this.#firstDone();
      // An offer-answer exchange is complete: currentDirection tells which
      // remote tracks are live.
      this.#syncRemote();
    } else if (candidate) {
      try {
        await this.pc.addIceCandidate(candidate);
      } catch (err) {
        // Candidates of an offer we ignored cannot be added: expected.
        if (!this.#ignoreOffer) throw err;
      }
    }
  }

  #sendDescription() {
    const d = this.pc.localDescription;
    if (d && !this.#closed) this.#opts.signal({ description: { type: d.type, sdp: d.sdp } });
  }

  /** @param {MediaStream|null} stream */
  async #publish(stream) {
    if (this.#closed) return;
    const pc = this.pc;
    this.#owned = this.#owned.filter((t) => !isStopped(t));
    const owned = this.#owned;
    const tracks = stream ? stream.getTracks() : [];
    const plan = planSenders(
      owned.map((t) => ({ kind: kindOf(t), track: t.sender.track })),
      tracks,
    );
    // Reused transceivers first: once they hold their tracks, addTrack below
    // cannot pick one of them as a free transceiver.
    await Promise.all(
      plan.reuse.map(async ({ index, track }) => {
        const t = owned[index];
        // No setStreams: the remote side gathers tracks in its own stream per
        // peer, and a new msid would cost a renegotiation.
        if (t.sender.track !== track) await t.sender.replaceTrack(track);
        setDirection(t, withSend(t.direction));
      }),
    );
    if (this.#closed) return;
    for (const track of plan.add) {
      // addTrack takes a transceiver the peer's own media created, where
      // there is one of the kind, instead of adding an m-line: both peers'
      // tracks of a kind then share one m-line, also when both publish at
      // the same time (after a glare, the polite side's addTrack transceivers
      // attach to the offer's m-lines).
      const sender = stream ? pc.addTrack(track, stream) : pc.addTrack(track);
      const t = pc.getTransceivers().find((x) => x.sender === sender);
      if (t && !this.#owned.includes(t)) this.#owned.push(t);
    }
    await Promise.all(
      plan.idle.map(async (index) => {
        const t = owned[index];
        setDirection(t, withoutSend(t.direction));
        if (t.sender.track) await t.sender.replaceTrack(null);
      }),
    );
  }

  /** Remote tracks follow the negotiated directions: receiving ones are in, others out. */
  #syncRemote() {
    if (!this.remoteStream || this.#closed || typeof this.pc.getTransceivers !== 'function') return;
    const live = new Set();
    for (const t of this.pc.getTransceivers()) {
      if (!isStopped(t) && hasRecv(t.currentDirection) && t.receiver?.track) live.add(t.receiver.track);
    }
    for (const track of this.remoteStream.getTracks()) if (!live.has(track)) this.#removeRemote(track);
    for (const track of live) this.#addRemote(track);
  }

  /** @param {MediaStreamTrack} track */
  #addRemote(track) {
    const stream = this.remoteStream;
    if (!stream || this.#closed || stream.getTracks().includes(track)) return;
    stream.addTrack(track);
    this.#opts.onTrack?.(track, stream);
  }

  /** @param {MediaStreamTrack} track */
  #removeRemote(track) {
    const stream = this.remoteStream;
    if (!stream || !stream.getTracks().includes(track)) return;
    stream.removeTrack(track);
    this.#opts.onTrackEnded?.(track, stream);
  }

  /**
   * @param {RTCDataChannel} channel
   * @param {RTCDataChannel[]} list #reliable or #unreliable
   */
  #adopt(channel, list) {
    adoptChannel(channel, list, () => this.#update(), (data) => {
      if (this.#opts.onMessage) this.#opts.onMessage(data);
      else this.#opts.onData?.(decodeData(data));
    });
  }

  /** @param {unknown} err */
  #fail(err) {
    if (this.#closed) return;
    this.#opts.onError?.(err instanceof Error ? err : new Error(String(err)));
  }

  #update() {
    const cs = this.pc.connectionState;
    if (!this.#closed && cs !== this.#lastCs) {
      this.#lastCs = cs;
      clearTimeout(this.#disconnectTimer);
      this.#disconnectTimer = null;
      if (cs === 'connected') this.#onConnected();
      else if (cs === 'failed') this.#onFailed();
      else if (cs === 'disconnected') this.#watchDisconnected();
    }
    const next = this.#compute();
    if (next === this.state) return;
    this.state = next;
    this.#opts.onState?.(next);
  }

  /** @returns {PeerState} */
  #compute() {
    if (this.#closed) return 'closed';
    const cs = this.pc.connectionState;
    if (cs === 'closed') return 'closed';
    // Failed for good only once the restarts are spent; until then one is
    // scheduled (or waits for signaling) or under way.
    if (cs === 'failed') return this.#restarts.exhausted ? 'failed' : 'connecting';
    // The restarts of a link that never reconnected are spent.
    if (this.#gaveUp) return 'failed';
    if (cs === 'disconnected') return 'disconnected';
    // An ICE restart under way: the channel may still count as open.
    if (cs === 'connecting' && this.#restarts.state === 'running') return 'connecting';
    if (this.#reliable.some((c) => c.readyState === 'open')) {
      this.#everOpen = true;
      return 'connected';
    }
    return this.#everOpen ? 'disconnected' : 'connecting';
  }

  #onConnected() {
    this.#restarts.connected();
    this.#awaitingSignal = false;
    this.#gaveUp = false;
    clearTimeout(this.#restartTimer);
    clearTimeout(this.#attemptTimer);
    clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#watchPair();
  }

  /**
   * The link failed, did not connect in time, or a restart did not reconnect
   * in time: restart ICE after a delay, or give up.
   */
  #onFailed() {
    clearTimeout(this.#attemptTimer);
    clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    const delay = this.#restarts.failed();
    if (delay === null) {
      if (this.#restarts.exhausted) this.#gaveUp = true;
      return;
    }
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => this.#restart(), delay);
  }

  #restart() {
    this.#restartTimer = null;
    if (this.#closed) return;
    if (this.#opts.canSignal && !this.#opts.canSignal()) {
      // The offer would go nowhere: resume() restarts once signaling is back.
      this.#awaitingSignal = true;
      return;
    }
    this.#awaitingSignal = false;
    if (!this.#restarts.start()) return;
    try {
      this.pc.restartIce();
      // An offer of ours that was never answered (signaling was gone) holds
      // back negotiationneeded: offer again, with the new ICE credentials.
      if (this.pc.signalingState === 'have-local-offer' && !this.#makingOffer) this.#negotiate();
    } catch (err) {
      this.#fail(err);
    }
    this.#attemptTimer = setTimeout(() => {
      this.#attemptTimer = null;
      if (this.#closed || this.pc.connectionState === 'connected') return;
      this.#onFailed();
      this.#update(); // "failed" after the last attempt
    }, this.#restarts.timeout);
    this.#update();
  }

  /**
   * A link that stays "disconnected" (the path went away: a network change,
   * a relay gone) counts as failed after disconnectTimeout, well before the
   * browser would say "failed" by itself, and restarts ICE.
   */
  #watchDisconnected() {
    this.#disconnectTimer = setTimeout(() => {
      this.#disconnectTimer = null;
      if (this.#closed || this.pc.connectionState !== 'disconnected' || this.#restarts.state !== 'idle') return;
      this.#onFailed();
      this.#update();
    }, this.#restarts.disconnectTimeout);
  }

  /**
   * The watchdog of a new link. A link whose offer or answer was lost, or
   * whose candidates never met, stays "connecting" without ever failing, so
   * no ICE restart would rescue it: if it is not connected within
   * connectTimeout, it counts as failed and goes through the restart path
   * (restartIce and a new offer, which also replaces an offer never
   * answered), with the same attempts. The polite side waits half as long
   * again, so that the impolite side, which opened the link, normally
   * restarts first and the two offers do not collide.
   */
  #watchConnect() {
    const ms = this.#restarts.connectTimeout * (this.polite ? 1.5 : 1);
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      // Connected, or a failure already went the restart way.
      if (this.#closed || this.pc.connectionState === 'connected' || this.#restarts.state !== 'idle') return;
      this.#onFailed();
      this.#update();
    }, ms);
  }

  /**
   * Reads the selected pair now, then whenever the ICE transport says it
   * changed; where it cannot say, a few more times.
   */
  #watchPair() {
    this.#clearPairWatch();
    this.#readPair();
    const pc = /** @type {any} */ (this.pc);
    const ice = pc.sctp?.transport?.iceTransport ?? pc.getSenders?.()[0]?.transport?.iceTransport ?? null;
    if (ice && 'onselectedcandidatepairchange' in ice && typeof ice.addEventListener === 'function') {
      this.#ice = ice;
      ice.addEventListener('selectedcandidatepairchange', this.#onPairChange);
      return;
    }
    this.#pairTimers = (this.#opts.pairPolls ?? PAIR_POLLS).map((ms) => setTimeout(() => this.#readPair(), ms));
  }

  #clearPairWatch() {
    for (const t of this.#pairTimers) clearTimeout(t);
    this.#pairTimers = [];
    this.#ice?.removeEventListener('selectedcandidatepairchange', this.#onPairChange);
    this.#ice = null;
  }

  async #readPair() {
    if (this.#closed || typeof this.pc.getStats !== 'function') return;
    const read = ++this.#pairReads;
    let type;
    try {
      type = connectionTypeOf(await this.pc.getStats());
    } catch {
      return; // closed meanwhile; the next read will tell
    }
    // A later read wins; a read without a selected pair keeps the last type.
    if (read === this.#pairReads && type) this.#setConnectionType(type);
  }

  /** @param {ConnectionType|null} type */
  #setConnectionType(type) {
    if (this.#closed || type === this.connectionType) return;
    this.connectionType = type;
    this.#opts.onConnectionType?.(type);
  }
}

/**
 * The media kind of a transceiver (its receiver always has a track).
 * @param {RTCRtpTransceiver} t
 */
function kindOf(t) {
  return t.receiver?.track?.kind ?? t.sender.track?.kind;
}

/**
 * Whether a transceiver is stopped (the older "stopped" attribute, or the
 * spec's currentDirection "stopped").
 * @param {RTCRtpTransceiver} t
 */
function isStopped(t) {
  return /** @type {any} */ (t).stopped === true || t.currentDirection === 'stopped';
}

/**
 * Sets a transceiver's direction when it differs (each change may fire
 * negotiationneeded).
 * @param {RTCRtpTransceiver} t
 * @param {RTCRtpTransceiverDirection} d
 */
function setDirection(t, d) {
  if (t.direction !== d) t.direction = d;
}

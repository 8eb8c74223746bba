// One WebRTC link to one remote peer: an RTCPeerConnection with one data
// channel, negotiated with the perfect-negotiation pattern and trickle ICE.
// Signaling data leaves through the `signal` callback as {description} or
// {candidate} and comes back through handleSignal. The link knows nothing of
// the WebSocket; the room carries its signals.

import { isPolite, onDescription, opensChannel } from './negotiation.js';

/** Label of the data channel every link carries. */
export const CHANNEL_LABEL = 'switchboard';

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
 * @typedef {'connecting'|'connected'|'disconnected'|'failed'|'closed'} PeerState
 *
 * @typedef {object} PeerLinkOptions
 * @property {string} selfId own peer id
 * @property {string} peerId the remote peer's id
 * @property {RTCIceServer[]} [iceServers]
 * @property {(data: object) => void} signal sends signaling data to the remote peer
 * @property {(data: unknown) => void} [onData] a message arrived on the data channel
 * @property {(state: PeerState) => void} [onState] the link's state changed
 * @property {(err: Error) => void} [onError] negotiation failed
 * @property {typeof RTCPeerConnection} [RTCPeerConnection] constructor to use
 */

export class PeerLink {
  /** @type {PeerState} */
  state = 'connecting';
  /** @type {RTCDataChannel[]} */
  #channels = [];
  #everOpen = false;
  #closed = false;
  #makingOffer = false;
  #ignoreOffer = false;
  #settingRemoteAnswer = false;
  /** @type {Promise<void>} incoming signals, applied one after another */
  #queue = Promise.resolve();
  #opts;

  /** @param {PeerLinkOptions} opts */
  constructor(opts) {
    const PC = opts.RTCPeerConnection ?? globalThis.RTCPeerConnection;
    if (typeof PC !== 'function') throw new Error('switchboard: RTCPeerConnection is not available');
    this.#opts = opts;
    this.peerId = opts.peerId;
    this.polite = isPolite(opts.selfId, opts.peerId);
    /** @type {RTCPeerConnection} */
    this.pc = new PC({ iceServers: opts.iceServers ?? [] });
    const pc = this.pc;
    pc.onnegotiationneeded = () => this.#negotiate();
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && !this.#closed) opts.signal({ candidate: candidate.toJSON ? candidate.toJSON() : candidate });
    };
    pc.onconnectionstatechange = () => this.#update();
    pc.ondatachannel = ({ channel }) => {
      if (channel.label === CHANNEL_LABEL) this.#adopt(channel);
    };
    if (opensChannel(opts.selfId, opts.peerId)) this.#adopt(pc.createDataChannel(CHANNEL_LABEL));
  }

  /**
   * Applies signaling data from the remote peer, in the order it arrived.
   * @param {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit}} data
   */
  handleSignal(data) {
    this.#queue = this.#queue.then(() => this.#apply(data)).catch((err) => this.#fail(err));
  }

  /**
   * Sends a message on the data channel. Returns false when no channel is
   * open yet (or any more).
   * @param {unknown} data
   */
  send(data) {
    const channel = this.#channels.find((c) => c.readyState === 'open');
    if (!channel) return false;
    channel.send(/** @type {any} */ (encodeData(data)));
    return true;
  }

  /** Closes the connection for good. */
  /**
   * Replaces the ICE servers, for TURN credentials refreshed by the server.
   * @param {RTCIceServer[]} iceServers
   */
  setIceServers(iceServers) {
    if (this.#closed) return;
    try {
      this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers });
    } catch (err) {
      this.#opts.onError?.(err);
    }
  }

  close() {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#channels) c.close();
    this.#channels = [];
    this.pc.close();
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
      } finally {
        this.#settingRemoteAnswer = false;
      }
      if (description.type === 'offer') {
        await this.pc.setLocalDescription();
        this.#sendDescription();
      }
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

  /** @param {RTCDataChannel} channel */
  #adopt(channel) {
    channel.binaryType = 'arraybuffer';
    this.#channels.push(channel);
    channel.onopen = () => this.#update();
    channel.onclose = () => {
      this.#channels = this.#channels.filter((c) => c !== channel);
      this.#update();
    };
    channel.onmessage = (ev) => this.#opts.onData?.(decodeData(ev.data));
    this.#update();
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
    const cs = this.pc.connectionState;
    if (cs === 'failed' || cs === 'closed') return cs;
    if (cs === 'disconnected') return 'disconnected';
    if (this.#channels.some((c) => c.readyState === 'open')) {
      this.#everOpen = true;
      return 'connected';
    }
    return this.#everOpen ? 'disconnected' : 'connecting';
  }
}

// The binary envelope of data channel messages in SFU rooms: the server
// relays them between participants over the `sub` PeerConnection's channels
// (docs/protocol.md, the sfu frame; docs/sdk.md, "SFU rooms"). Pure: it runs
// under Node.
//
//   byte 0     flags: bit0 (1) payload is text (UTF-8 JSON), bit1 (2) directed (sendTo),
//              bit2 (4) SEQ, bit3 (8) FENCE (auto rooms only, see below)
//   byte 1     n, the length of the peer id in bytes (0..255)
//   n bytes    peer id: the target on the way to the server (none for a
//              broadcast), the sender on the way back
//   the rest   payload
//
// In auto rooms (docs/protocol.md, "Data across a switch") every message,
// on the SFU and on mesh links alike, is an envelope; reliable ones carry
// SEQ: the payload starts with a 4-byte big-endian sequence number. A FENCE
// is SEQ with no app payload: the number of the sender's last message on
// that path. On a mesh link n is 0 (the link says who sent it).

/** Flag: the payload is text (UTF-8), as encodeData makes it. */
export const TEXT = 1;
/** Flag: a message to one peer (sendTo). */
export const DIRECTED = 2;
/** Flag: the payload starts with a 4-byte big-endian sequence number (auto rooms). */
export const SEQ = 4;
/** Flag: a fence, a SEQ envelope with no app payload (auto rooms). */
export const FENCE = 8;
/** Largest payload the server relays by default (its MaxMessageBytes). */
export const MAX_PAYLOAD = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Wraps a message made by encodeData (JSON text, or binary) in an envelope.
 * Throws a TypeError for a Blob (a data channel message is built here, and a
 * Blob cannot be read synchronously) and a RangeError for a payload over
 * MAX_PAYLOAD (the sequence number included) or a peer id over 255 bytes.
 * @param {string|ArrayBuffer|ArrayBufferView|Blob} message
 * @param {string|null} to the target peer; null for every peer (and on a mesh link)
 * @param {{seq?: number, directed?: boolean}} [opts] seq: the message's
 *   sequence number (SEQ flag); directed: the directed flag without a peer
 *   id (a sendTo on a mesh link)
 * @returns {Uint8Array}
 */
export function encodeEnvelope(message, to, opts) {
  if (typeof Blob !== 'undefined' && message instanceof Blob) {
    throw new TypeError('a Blob cannot be sent in an SFU room or an auto room: send its bytes (await blob.arrayBuffer())');
  }
  const text = typeof message === 'string';
  const payload = text ? encoder.encode(message) : bytesOf(/** @type {ArrayBuffer|ArrayBufferView} */ (message));
  const seq = opts?.seq;
  const head = seq === undefined ? 0 : 4;
  if (payload.length + head > MAX_PAYLOAD) {
    throw new RangeError(`message of ${payload.length} bytes is over the SFU's limit of ${MAX_PAYLOAD - head}`);
  }
  const out = frame(to, head + payload.length, (text ? TEXT : 0) | (to !== null || opts?.directed ? DIRECTED : 0) | (head ? SEQ : 0));
  const at = out.length - payload.length;
  if (seq !== undefined) new DataView(out.buffer).setUint32(at - 4, seq);
  out.set(payload, at);
  return out;
}

/**
 * A FENCE: the number of the sender's last message on the path it closes
 * for a receiver (docs/protocol.md, "Data across a switch").
 * @param {number} seq
 * @param {string|null} to the receiver on the SFU; null on a mesh link
 * @returns {Uint8Array}
 */
export function encodeFence(seq, to) {
  const out = frame(to, 4, SEQ | FENCE | DIRECTED);
  new DataView(out.buffer).setUint32(out.length - 4, seq);
  return out;
}

/**
 * An envelope's header with room for a payload of size bytes.
 * @param {string|null} to
 * @param {number} size
 * @param {number} flags
 */
function frame(to, size, flags) {
  const id = to === null ? new Uint8Array(0) : encoder.encode(to);
  if (id.length > 255) throw new RangeError('peer id longer than 255 bytes');
  const out = new Uint8Array(2 + id.length + size);
  out[0] = flags;
  out[1] = id.length;
  out.set(id, 2);
  return out;
}

/**
 * @typedef {object} Envelope
 * @property {string} peer the sender (from the server) or target; "" on a mesh link
 * @property {boolean} directed
 * @property {string|ArrayBuffer} payload text as a string, binary as an ArrayBuffer of its own
 * @property {number} [seq] the sequence number (SEQ envelopes only; see decodeEnvelope's opts)
 * @property {boolean} [fence] a FENCE (no payload)
 */

/**
 * Opens an envelope from the server. Null for anything that is not one: not
 * binary, shorter than its header says, no sender, text that is not UTF-8.
 * Unknown flag bits are ignored, and so are SEQ and FENCE unless opts.seq
 * (rooms that are not auto know nothing of them).
 * @param {unknown} raw
 * @param {{seq?: boolean, anonymous?: boolean}} [opts] seq: read SEQ and
 *   FENCE (auto rooms; a SEQ envelope shorter than its number, or a FENCE
 *   with a payload, is null); anonymous: no peer id (a mesh link)
 * @returns {Envelope|null}
 */
export function decodeEnvelope(raw, opts) {
  let bytes;
  if (raw instanceof ArrayBuffer) bytes = new Uint8Array(raw);
  else if (ArrayBuffer.isView(raw)) bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  else return null;
  if (bytes.length < 2) return null;
  const flags = bytes[0];
  const n = bytes[1];
  if ((n === 0) !== (opts?.anonymous === true) || bytes.length < 2 + n) return null;
  let peer;
  try {
    peer = decoder.decode(bytes.subarray(2, 2 + n));
  } catch {
    return null;
  }
  let body = bytes.subarray(2 + n);
  /** @type {number|undefined} */
  let seq;
  let fence = false;
  if (opts?.seq && flags & SEQ) {
    if (body.length < 4) return null;
    seq = new DataView(body.buffer, body.byteOffset, 4).getUint32(0);
    body = body.subarray(4);
    fence = (flags & FENCE) !== 0;
    if (fence && body.length > 0) return null;
  } else if (opts?.seq && flags & FENCE) {
    return null;
  }
  /** @type {string|ArrayBuffer} */
  let payload;
  if (flags & TEXT) {
    try {
      payload = decoder.decode(body);
    } catch {
      return null;
    }
  } else {
    payload = body.slice().buffer;
  }
  /** @type {Envelope} */
  const env = { peer, directed: (flags & DIRECTED) !== 0, payload };
  if (seq !== undefined) {
    env.seq = seq;
    if (fence) env.fence = true;
  }
  return env;
}

/** @param {ArrayBuffer|ArrayBufferView} data */
function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

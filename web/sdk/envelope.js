// The binary envelope of data channel messages in SFU rooms: the server
// relays them between participants over the `sub` PeerConnection's channels
// (docs/protocol.md, the sfu frame; docs/sdk.md, "SFU rooms"). Pure: it runs
// under Node.
//
//   byte 0     flags: bit0 (1) payload is text (UTF-8 JSON), bit1 (2) directed (sendTo)
//   byte 1     n, the length of the peer id in bytes (0..255)
//   n bytes    peer id: the target on the way to the server (none for a
//              broadcast), the sender on the way back
//   the rest   payload

/** Flag: the payload is text (UTF-8), as encodeData makes it. */
export const TEXT = 1;
/** Flag: a message to one peer (sendTo). */
export const DIRECTED = 2;
/** Largest payload the server relays by default (its MaxMessageBytes). */
export const MAX_PAYLOAD = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Wraps a message made by encodeData (JSON text, or binary) in an envelope.
 * Throws a TypeError for a Blob (a data channel message is built here, and a
 * Blob cannot be read synchronously) and a RangeError for a payload over
 * MAX_PAYLOAD or a peer id over 255 bytes.
 * @param {string|ArrayBuffer|ArrayBufferView|Blob} message
 * @param {string|null} to the target peer; null for every peer
 * @returns {Uint8Array}
 */
export function encodeEnvelope(message, to) {
  if (typeof Blob !== 'undefined' && message instanceof Blob) {
    throw new TypeError('a Blob cannot be sent in an SFU room: send its bytes (await blob.arrayBuffer())');
  }
  const text = typeof message === 'string';
  const payload = text ? encoder.encode(message) : bytesOf(/** @type {ArrayBuffer|ArrayBufferView} */ (message));
  const id = to === null ? new Uint8Array(0) : encoder.encode(to);
  if (id.length > 255) throw new RangeError('peer id longer than 255 bytes');
  if (payload.length > MAX_PAYLOAD) {
    throw new RangeError(`message of ${payload.length} bytes is over the SFU's limit of ${MAX_PAYLOAD}`);
  }
  const out = new Uint8Array(2 + id.length + payload.length);
  out[0] = (text ? TEXT : 0) | (to === null ? 0 : DIRECTED);
  out[1] = id.length;
  out.set(id, 2);
  out.set(payload, 2 + id.length);
  return out;
}

/**
 * @typedef {object} Envelope
 * @property {string} peer the sender (from the server) or target
 * @property {boolean} directed
 * @property {string|ArrayBuffer} payload text as a string, binary as an ArrayBuffer of its own
 */

/**
 * Opens an envelope from the server. Null for anything that is not one: not
 * binary, shorter than its header says, no sender, text that is not UTF-8.
 * Unknown flag bits are ignored.
 * @param {unknown} raw
 * @returns {Envelope|null}
 */
export function decodeEnvelope(raw) {
  let bytes;
  if (raw instanceof ArrayBuffer) bytes = new Uint8Array(raw);
  else if (ArrayBuffer.isView(raw)) bytes = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  else return null;
  if (bytes.length < 2) return null;
  const flags = bytes[0];
  const n = bytes[1];
  if (n === 0 || bytes.length < 2 + n) return null;
  let peer;
  try {
    peer = decoder.decode(bytes.subarray(2, 2 + n));
  } catch {
    return null;
  }
  const body = bytes.subarray(2 + n);
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
  return { peer, directed: (flags & DIRECTED) !== 0, payload };
}

/** @param {ArrayBuffer|ArrayBufferView} data */
function bytesOf(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

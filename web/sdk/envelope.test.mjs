import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DIRECTED, MAX_PAYLOAD, TEXT, decodeEnvelope, encodeEnvelope } from './envelope.js';
import { encodeData } from './peer.js';
import { relayEnvelope } from './fakes.mjs';

/** What the server does to a client's envelope. */
const relay = relayEnvelope;

test('a broadcast of JSON text: text flag, no peer id, the JSON in UTF-8', () => {
  const env = encodeEnvelope(encodeData({ text: 'héllo' }), null);
  assert.equal(env[0], TEXT);
  assert.equal(env[1], 0);
  assert.equal(new TextDecoder().decode(env.subarray(2)), '{"text":"héllo"}');
  assert.deepEqual(decodeEnvelope(relay(env, 'p7')), { peer: 'p7', directed: false, payload: '{"text":"héllo"}' });
});

test('a directed binary message: directed flag, the target id, the bytes as they were', () => {
  const env = encodeEnvelope(encodeData(new Uint8Array([1, 2, 255]).subarray(1)), 'p12');
  assert.equal(env[0], DIRECTED);
  assert.equal(env[1], 3);
  assert.equal(new TextDecoder().decode(env.subarray(2, 5)), 'p12');
  assert.deepEqual([...env.subarray(5)], [2, 255]);
  const back = decodeEnvelope(relay(env, 'p3'));
  assert.equal(back.peer, 'p3');
  assert.equal(back.directed, true);
  assert.ok(back.payload instanceof ArrayBuffer);
  assert.deepEqual([...new Uint8Array(back.payload)], [2, 255]);
  // An ArrayBuffer, and a view into a larger buffer, travel alike; empty payloads too.
  assert.deepEqual([...encodeEnvelope(new Uint8Array([9]).buffer, null)], [0, 0, 9]);
  assert.deepEqual(decodeEnvelope(relay(encodeEnvelope('', 'x'), 'y')), { peer: 'y', directed: true, payload: '' });
});

test('bad envelopes are null: too short, no sender, a peer id past the end, text that is not UTF-8, not binary', () => {
  assert.equal(decodeEnvelope(new Uint8Array([1]).buffer), null);
  assert.equal(decodeEnvelope(new Uint8Array([1, 0, 65]).buffer), null, 'no sender');
  assert.equal(decodeEnvelope(new Uint8Array([1, 5, 65, 66]).buffer), null);
  assert.equal(decodeEnvelope(new Uint8Array([1, 1, 65, 0xff, 0xfe]).buffer), null);
  assert.equal(decodeEnvelope('{"a":1}'), null);
  assert.equal(decodeEnvelope(null), null);
  // Binary payloads are not checked; unknown flag bits are ignored; views are read in place.
  const buf = new Uint8Array([7, 7, 0x80, 1, 65, 0xff]);
  assert.deepEqual(decodeEnvelope(buf.subarray(2)).peer, 'A');
  assert.deepEqual([...new Uint8Array(decodeEnvelope(buf.subarray(2)).payload)], [0xff]);
});

test('what the envelope cannot carry throws: a Blob, a payload over the limit, a long peer id', () => {
  assert.throws(() => encodeEnvelope(new Blob(['x']), null), /Blob cannot be sent in an SFU room/);
  assert.throws(() => encodeEnvelope(new Uint8Array(MAX_PAYLOAD + 1), null), /over the SFU's limit/);
  assert.equal(encodeEnvelope(new Uint8Array(MAX_PAYLOAD), null).length, MAX_PAYLOAD + 2);
  assert.throws(() => encodeEnvelope('1', 'x'.repeat(256)), /255 bytes/);
});

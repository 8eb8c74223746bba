import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHANNEL_LABEL, PeerLink, decodeData, encodeData } from './peer.js';
import { FakePeerConnection } from './fakes.mjs';

test('data travels as JSON text, binary as it is', () => {
  for (const v of ['hi', 42, null, { text: 'x', n: [1, 2] }, true]) {
    assert.deepEqual(decodeData(/** @type {string} */ (encodeData(v))), v);
  }
  const buf = new Uint8Array([1, 2, 3]);
  assert.equal(encodeData(buf), buf);
  assert.equal(encodeData(buf.buffer), buf.buffer);
  assert.equal(decodeData(buf.buffer), buf.buffer);
  assert.equal(decodeData('not json'), 'not json');
  assert.throws(() => encodeData(undefined), TypeError);
  assert.throws(() => encodeData(() => 1), TypeError);
});

test('only the impolite side opens the data channel', () => {
  const signals = [];
  const opts = { iceServers: [{ urls: 'stun:x' }], signal: (d) => signals.push(d), RTCPeerConnection: FakePeerConnection };
  const high = new PeerLink({ ...opts, selfId: 'b', peerId: 'a' });
  const low = new PeerLink({ ...opts, selfId: 'a', peerId: 'b' });
  assert.equal(high.polite, false);
  assert.equal(low.polite, true);
  assert.deepEqual(high.pc.channels.map((c) => c.label), [CHANNEL_LABEL]);
  assert.deepEqual(low.pc.channels, []);
  assert.deepEqual(high.pc.config, { iceServers: [{ urls: 'stun:x' }] });
  assert.equal(high.state, 'connecting');
  high.close();
  assert.equal(high.state, 'closed');
  assert.equal(high.pc.connectionState, 'closed');
});

test('an offer is answered, and the answer goes out as a signal', async () => {
  const signals = [];
  const link = new PeerLink({ selfId: 'a', peerId: 'b', signal: (d) => signals.push(d), RTCPeerConnection: FakePeerConnection });
  link.handleSignal({ description: { type: 'offer', sdp: 'v=0 offer' } });
  link.handleSignal({ candidate: { candidate: 'candidate:1', sdpMid: '0' } });
  await link.pc.settled();
  assert.deepEqual(link.pc.log, ['setRemoteDescription offer', 'setLocalDescription answer', 'addIceCandidate candidate:1']);
  assert.deepEqual(signals, [{ description: { type: 'answer', sdp: 'answer-sdp' } }]);
});

test('the impolite side ignores a colliding offer and its candidates', async () => {
  const errors = [];
  const link = new PeerLink({ selfId: 'b', peerId: 'a', signal: () => {}, onError: (e) => errors.push(e), RTCPeerConnection: FakePeerConnection });
  link.pc.signalingState = 'have-local-offer';
  link.pc.failCandidates = true;
  link.handleSignal({ description: { type: 'offer', sdp: 'glare' } });
  link.handleSignal({ candidate: { candidate: 'candidate:9' } });
  await link.pc.settled();
  assert.deepEqual(link.pc.log, ['addIceCandidate candidate:9']);
  assert.deepEqual(errors, []);
});

test('state and messages follow the data channel', () => {
  const states = [];
  const got = [];
  const link = new PeerLink({
    selfId: 'b', peerId: 'a', signal: () => {},
    onState: (s) => states.push(s), onData: (d) => got.push(d),
    RTCPeerConnection: FakePeerConnection,
  });
  const ch = link.pc.channels[0];
  assert.equal(ch.binaryType, 'arraybuffer');
  assert.equal(link.send('x'), false, 'nothing is open yet');
  ch.readyState = 'open';
  ch.onopen();
  assert.equal(link.send({ a: 1 }), true);
  assert.deepEqual(ch.sent, ['{"a":1}']);
  ch.onmessage({ data: '{"text":"hi"}' });
  assert.deepEqual(got, [{ text: 'hi' }]);
  ch.readyState = 'closed';
  ch.onclose();
  assert.equal(link.send('x'), false);
  link.close();
  assert.deepEqual(states, ['connected', 'disconnected', 'closed']);
});

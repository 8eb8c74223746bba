import assert from 'node:assert/strict';
import { test } from 'node:test';
import { direction, hasRecv, hasSend, ownsIceServers, peerConfig, planSenders, reverse, withSend, withoutSend } from './media.js';

test('directions gain and lose sending, receiving stays', () => {
  assert.equal(withSend('recvonly'), 'sendrecv');
  assert.equal(withSend('inactive'), 'sendonly');
  assert.equal(withSend('sendrecv'), 'sendrecv');
  assert.equal(withoutSend('sendrecv'), 'recvonly');
  assert.equal(withoutSend('sendonly'), 'inactive');
  assert.equal(withoutSend('recvonly'), 'recvonly');
  assert.equal(reverse('sendonly'), 'recvonly');
  assert.equal(reverse('sendrecv'), 'sendrecv');
  assert.equal(reverse('inactive'), 'inactive');
  assert.equal(direction(true, false), 'sendonly');
  assert.equal(hasSend('stopped'), false);
  assert.equal(hasRecv(null), false);
});

const a1 = { kind: 'audio', id: 'a1' };
const a2 = { kind: 'audio', id: 'a2' };
const v1 = { kind: 'video', id: 'v1' };
const v2 = { kind: 'video', id: 'v2' };

test('a first publish adds a sender per track', () => {
  assert.deepEqual(planSenders([], [a1, v1]), { reuse: [], add: [a1, v1], idle: [] });
});

test('publishing another stream reuses the senders of each kind', () => {
  const owned = [{ kind: 'audio', track: a1 }, { kind: 'video', track: v1 }];
  assert.deepEqual(planSenders(owned, [v2, a2]), {
    reuse: [{ index: 0, track: a2 }, { index: 1, track: v2 }],
    add: [],
    idle: [],
  });
  // The same stream again changes nothing.
  assert.deepEqual(planSenders(owned, [a1, v1]), {
    reuse: [{ index: 0, track: a1 }, { index: 1, track: v1 }],
    add: [],
    idle: [],
  });
});

test('unpublish and audio-only leave senders idle, to be reused later', () => {
  const owned = [{ kind: 'audio', track: a1 }, { kind: 'video', track: v1 }];
  assert.deepEqual(planSenders(owned, []), { reuse: [], add: [], idle: [0, 1] });
  assert.deepEqual(planSenders(owned, [a2]), { reuse: [{ index: 0, track: a2 }], add: [], idle: [1] });
  const idle = [{ kind: 'audio', track: null }, { kind: 'video', track: null }];
  assert.deepEqual(planSenders(idle, [a1, v1]), {
    reuse: [{ index: 0, track: a1 }, { index: 1, track: v1 }],
    add: [],
    idle: [],
  });
});

test('a track stays on its sender; extra tracks of a kind get new ones', () => {
  const owned = [{ kind: 'video', track: v1 }];
  assert.deepEqual(planSenders(owned, [v2, v1]), { reuse: [{ index: 0, track: v1 }], add: [v2], idle: [] });
  assert.deepEqual(planSenders(owned, [a1, a1]), { reuse: [], add: [a1], idle: [0] });
});

test('rtcConfig adds to the server ICE servers or replaces them', () => {
  const server = [{ urls: 'turn:s' }];
  assert.deepEqual(peerConfig(undefined, server), { iceServers: server });
  assert.deepEqual(peerConfig(undefined, undefined), { iceServers: [] });
  assert.deepEqual(peerConfig({ iceTransportPolicy: 'relay' }, server), { iceTransportPolicy: 'relay', iceServers: server });
  const own = [{ urls: 'stun:own' }];
  assert.deepEqual(peerConfig({ iceServers: own }, server), { iceServers: own });
  assert.equal(ownsIceServers({ iceServers: [] }), true);
  assert.equal(ownsIceServers({ iceTransportPolicy: 'relay' }), false);
});

// Data across a switch (dataseq.js): numbered envelopes, FENCEs, and a
// receiver that delivers each sender's messages once and in order while the
// sender moves it between paths.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeqReceiver, SeqSender } from './dataseq.js';
import { DIRECTED, FENCE, SEQ, TEXT, decodeEnvelope, encodeEnvelope, encodeFence } from './envelope.js';
import { relayEnvelope } from './fakes.mjs';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** What the SFU does to a client's envelope. */
const relay = relayEnvelope;

/** A sender whose paths record what they carry: mesh per peer, sfu as [target, bytes]. */
function sender(open = { mesh: true, sfu: true }) {
  const mesh = [];
  const sfu = [];
  const s = new SeqSender({
    mesh: (peer, bytes, reliable) => open.mesh && (mesh.push([peer, bytes, reliable]), true),
    sfu: (bytes, reliable) => open.sfu && (sfu.push([bytes, reliable]), true),
  });
  return { s, mesh, sfu };
}

/** A receiver that records what it delivers. */
function receiver(opts = {}) {
  const got = [];
  const r = new SeqReceiver({ ...opts, deliver: (peer, payload) => got.push(`${peer}:${payload}`) });
  return { r, got };
}

/** A numbered text message as a sender on a mesh link makes it. */
const meshMsg = (seq, text) => encodeEnvelope(String(text), null, { seq }).buffer;
/** The same through the SFU, from peer. */
const sfuMsg = (seq, text, from = 'a') => relay(encodeEnvelope(String(text), null, { seq }), from);

test('SEQ and FENCE envelopes: the number first, a fence has no payload; mesh envelopes have no peer id', () => {
  const env = encodeEnvelope('"hi"', 'p2', { seq: 258 });
  assert.equal(env[0], TEXT | DIRECTED | SEQ);
  assert.deepEqual([...env.subarray(0, 8)], [TEXT | DIRECTED | SEQ, 2, 112, 50, 0, 0, 1, 2]);
  assert.deepEqual(decodeEnvelope(relay(env, 'p1'), { seq: true }), { peer: 'p1', directed: true, payload: '"hi"', seq: 258 });
  // Rooms that are not auto ignore the flags, as before.
  assert.equal(decodeEnvelope(relay(env, 'p1')).payload, '\u0000\u0000\u0001\u0002"hi"');
  const fence = encodeFence(7, null);
  assert.deepEqual([...fence], [SEQ | FENCE | DIRECTED, 0, 0, 0, 0, 7]);
  assert.deepEqual(decodeEnvelope(fence, { seq: true, anonymous: true }), { peer: '', directed: true, payload: new ArrayBuffer(0), seq: 7, fence: true });
  // Bad: a SEQ shorter than its number, a FENCE with a payload or without SEQ, a mesh envelope with an id.
  assert.equal(decodeEnvelope(new Uint8Array([SEQ, 0, 1, 2]), { seq: true, anonymous: true }), null);
  assert.equal(decodeEnvelope(new Uint8Array([SEQ | FENCE, 0, 0, 0, 0, 1, 9]), { seq: true, anonymous: true }), null);
  assert.equal(decodeEnvelope(new Uint8Array([FENCE, 0, 9]), { seq: true, anonymous: true }), null);
  assert.equal(decodeEnvelope(new Uint8Array([TEXT, 1, 65, 65]), { seq: true, anonymous: true }), null);
  // Unreliable messages carry no number.
  assert.deepEqual(decodeEnvelope(encodeEnvelope('1', null), { seq: true, anonymous: true }), { peer: '', directed: false, payload: '1' });
});

test('the sender numbers reliable messages per room, broadcast on the SFU once and on every mesh link still used', () => {
  const { s, mesh, sfu } = sender();
  for (const p of ['a', 'b', 'c']) s.setPath(p, 'mesh');
  assert.equal(s.send('"x"', ['a', 'b', 'c'], true), 3);
  assert.equal(sfu.length, 0, 'nobody on the SFU, nothing sent there');
  s.setPath('a', 'sfu'); // a FENCE on a's mesh link with the last number
  assert.deepEqual(decodeEnvelope(mesh.at(-1)[1], { seq: true, anonymous: true }), { peer: '', directed: true, payload: new ArrayBuffer(0), seq: 1, fence: true });
  assert.equal(mesh.at(-1)[0], 'a');
  assert.equal(s.send('"y"', ['a', 'b', 'c'], true), 3);
  assert.equal(sfu.length, 1, 'once on the SFU');
  assert.deepEqual(mesh.slice(-2).map(([p]) => p), ['b', 'c']);
  assert.equal(decodeEnvelope(relay(sfu[0][0], 'me'), { seq: true }).seq, 2);
  assert.equal(s.sendTo('a', '"z"', true), true);
  assert.equal(s.sendTo('b', '"w"', true), true);
  const toA = decodeEnvelope(sfu[1][0], { seq: true });
  assert.deepEqual([toA.peer, toA.seq, toA.directed], ['a', 3, true]);
  assert.deepEqual(decodeEnvelope(mesh.at(-1)[1], { seq: true, anonymous: true }).seq, 4);
  // Unreliable: no number, the counter stays.
  s.sendTo('a', '"u"', false);
  assert.equal(decodeEnvelope(sfu[2][0], { seq: true }).seq, undefined);
  assert.equal(sfu[2][1], false);
  s.setPath('b', 'sfu');
  assert.equal(decodeEnvelope(mesh.at(-1)[1], { seq: true, anonymous: true }).seq, 4, 'the fence says the last number');
  assert.equal(s.sendTo('nobody', '1', true), false);
});

test('the receiver delivers in order and once: a broadcast on both paths, new-path messages held until the FENCE', () => {
  const { r, got } = receiver();
  r.receive('mesh', 'a', meshMsg(1, 'm1'));
  r.receive('sfu', null, sfuMsg(2, 'b2')); // a broadcast through the SFU: held, mesh is a's path
  r.receive('mesh', 'a', meshMsg(2, 'b2')); // its mesh copy
  r.receive('sfu', null, sfuMsg(4, 'm4')); // after the fence, on the new path
  r.receive('sfu', null, sfuMsg(4, 'm4')); // twice
  r.receive('mesh', 'a', meshMsg(3, 'm3'));
  assert.deepEqual(got, ['a:m1', 'a:b2', 'a:m3']);
  r.receive('mesh', 'a', encodeFence(3, null).buffer);
  assert.deepEqual(got, ['a:m1', 'a:b2', 'a:m3', 'a:m4']);
  r.receive('sfu', null, sfuMsg(5, 'm5'));
  r.receive('mesh', 'a', meshMsg(2, 'b2')); // late duplicate on the old path
  assert.deepEqual(got.slice(4), ['a:m5']);
  // And back: a FENCE on the SFU, the mesh from then on.
  r.receive('mesh', 'a', meshMsg(7, 'm7'));
  r.receive('sfu', null, sfuMsg(6, 'm6'));
  r.receive('sfu', null, relay(encodeFence(6, 'me'), 'a'));
  assert.deepEqual(got.slice(5), ['a:m6', 'a:m7']);
  r.close();
});

test('across a switch with duplicates and a late fence, every message arrives once and in order', () => {
  // A sender with receivers a and b moves a to the SFU while broadcasting
  // and sending to a; the paths deliver with different delays.
  const { s, mesh, sfu } = sender();
  s.setPath('me', 'mesh');
  s.setPath('other', 'mesh');
  const sent = [];
  for (let i = 1; i <= 30; i++) {
    if (i === 12) s.setPath('other', 'sfu');
    if (i === 17) s.setPath('me', 'sfu');
    if (i % 3 === 0) s.sendTo('me', JSON.stringify(i), true);
    else s.send(JSON.stringify(i), ['me', 'other'], true);
    sent.push(i);
  }
  const meshIn = mesh.filter(([p]) => p === 'me').map(([, b]) => b.slice().buffer);
  const sfuIn = sfu.map(([b]) => b).filter((b) => {
    const e = decodeEnvelope(b, { seq: true, anonymous: b[1] === 0 });
    return e.peer === '' || e.peer === 'me';
  }).map((b) => relay(b, 'x'));
  // The SFU path is fast, the mesh slow: every SFU message first, then the mesh (the fence last).
  const { r, got } = receiver();
  r.receive('mesh', 'x', meshIn[0]); // the receiver had the mesh with x before
  for (const b of sfuIn) r.receive('sfu', null, b);
  for (const b of meshIn.slice(1)) r.receive('mesh', 'x', b);
  assert.deepEqual(got, sent.map((i) => `x:${i}`));
  r.close();
});

test('a sender that moved us there and back faster than the slow path carries its fences is followed step by step', () => {
  // a: mesh (1), FENCE on the mesh, SFU (2), FENCE on the SFU, mesh (3, 4), FENCE on the mesh, SFU (5).
  // The mesh is fast: everything on it comes before the SFU's part.
  const { r, got } = receiver();
  r.receive('mesh', 'a', meshMsg(1, 1));
  r.receive('mesh', 'a', encodeFence(1, null).buffer);
  r.receive('mesh', 'a', meshMsg(3, 3));
  r.receive('mesh', 'a', meshMsg(4, 4));
  r.receive('mesh', 'a', encodeFence(4, null).buffer);
  assert.deepEqual(got, ['a:1'], 'the SFU is current: 3 and 4 wait for its fence');
  r.receive('sfu', null, sfuMsg(2, 2));
  r.receive('sfu', null, relay(encodeFence(2, 'me'), 'a'));
  assert.deepEqual(got, ['a:1', 'a:2', 'a:3', 'a:4'], 'the mesh is done as well: the SFU again');
  r.receive('sfu', null, sfuMsg(5, 5));
  assert.deepEqual(got.at(-1), 'a:5');
  r.close();
});

test('without a FENCE: a quiet old path counts as moved after the wait, a busy one means copies', async () => {
  const { r, got } = receiver({ fenceWait: 20 });
  r.receive('mesh', 'a', meshMsg(1, 1));
  r.receive('sfu', null, sfuMsg(3, 3));
  r.receive('sfu', null, sfuMsg(2, 2));
  assert.deepEqual(got, ['a:1']);
  await tick(40);
  assert.deepEqual(got, ['a:1', 'a:2', 'a:3'], 'in number order');
  r.receive('sfu', null, sfuMsg(4, 4));
  assert.deepEqual(got.at(-1), 'a:4', 'the SFU is its path now');
  // b keeps using the mesh with us: its SFU copies of broadcasts are dropped.
  r.receive('mesh', 'b', meshMsg(1, 1));
  r.receive('sfu', null, sfuMsg(2, 2, 'b'));
  r.receive('mesh', 'b', meshMsg(2, 2));
  await tick(40);
  r.receive('mesh', 'b', meshMsg(3, 3));
  assert.deepEqual(got.slice(4), ['b:1', 'b:2', 'b:3']);
  r.close();
});

test('the old path closing releases what waits; a receiver that never had the old path delivers at once', () => {
  const { r, got } = receiver();
  r.receive('sfu', null, sfuMsg(5, 5)); // first heard on the SFU: that is its path
  assert.deepEqual(got, ['a:5']);
  r.receive('mesh', 'b', meshMsg(1, 1));
  r.receive('sfu', null, sfuMsg(2, 2, 'b'));
  assert.deepEqual(got, ['a:5', 'b:1']);
  r.closed('b', 'mesh');
  assert.deepEqual(got, ['a:5', 'b:1', 'b:2']);
  r.receive('sfu', null, sfuMsg(3, 3, 'b'));
  assert.deepEqual(got.at(-1), 'b:3');
  r.close();
});

test('what waits is bounded: beyond the count or the bytes the oldest are delivered', () => {
  const { r, got } = receiver({ maxWaiting: 3 });
  r.receive('mesh', 'a', meshMsg(1, 1));
  for (let i = 2; i <= 6; i++) r.receive('sfu', null, sfuMsg(i, i));
  assert.deepEqual(got, ['a:1', 'a:2', 'a:3'], 'over the count: the oldest go');
  r.receive('mesh', 'a', encodeFence(1, null).buffer);
  assert.deepEqual(got.slice(3), ['a:4', 'a:5', 'a:6']);
  r.close();

  const bytes = receiver({ maxWaitingBytes: 100 });
  bytes.r.receive('mesh', 'a', meshMsg(1, 1));
  bytes.r.receive('sfu', null, sfuMsg(2, 'x'.repeat(30)));
  bytes.r.receive('sfu', null, sfuMsg(3, 'y'.repeat(30)));
  assert.deepEqual(bytes.got, ['a:1', `a:${'x'.repeat(30)}`], 'over the bytes: the oldest go');
  bytes.r.close();
});

test('unreliable messages and bad envelopes: delivered at once, or ignored', () => {
  const { r, got } = receiver();
  assert.equal(r.receive('mesh', 'a', encodeEnvelope('"u"', null).buffer), true);
  assert.equal(r.receive('mesh', 'a', '"raw text"'), false);
  assert.equal(r.receive('sfu', null, new Uint8Array([SEQ, 1, 97, 0]).buffer), false);
  assert.deepEqual(got, ['a:"u"']);
  r.forget('a');
  r.close();
});

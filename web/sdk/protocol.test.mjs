import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  MAX_FRAME_BYTES,
  Requests,
  SwitchboardError,
  broadcast,
  closeInfo,
  decode,
  encode,
  hello,
  join,
  leave,
  nextSeq,
  ping,
  reconnectDelay,
  resumeOf,
  roomKey,
  seenSeq,
  signal,
} from './protocol.js';

test('frame builders leave out what is not given', () => {
  assert.deepEqual(hello('T'), { type: 'hello', token: 'T' });
  assert.deepEqual(hello('T', { resume: 'R', lastSeq: 7 }), { type: 'hello', token: 'T', resume: 'R', lastSeq: 7 });
  assert.deepEqual(hello('T', { lastSeq: 7 }), { type: 'hello', token: 'T' }, 'lastSeq only with resume');
  assert.deepEqual(join('r'), { type: 'join', room: 'r' });
  assert.deepEqual(join('r', 'ns'), { type: 'join', room: 'r', ns: 'ns' });
  assert.deepEqual(leave('r', 'ns'), { type: 'leave', room: 'r', ns: 'ns' });
  assert.deepEqual(signal('r', undefined, 'p2', { candidate: null }), { type: 'signal', room: 'r', to: 'p2', data: { candidate: null } });
  assert.deepEqual(broadcast('r', 'n', 1), { type: 'broadcast', room: 'r', ns: 'n', data: 1 });
  assert.deepEqual(ping(), { type: 'ping' });
});

test('encode refuses frames over 64 KiB of UTF-8', () => {
  const room = 'r';
  const overhead = encode(broadcast(room, undefined, '')).length;
  assert.equal(encode(broadcast(room, undefined, 'x'.repeat(MAX_FRAME_BYTES - overhead))).length, MAX_FRAME_BYTES);
  assert.throws(
    () => encode(broadcast(room, undefined, 'x'.repeat(MAX_FRAME_BYTES - overhead + 1))),
    (err) => err instanceof SwitchboardError && err.code === 'frame_too_big',
  );
  // 3 bytes each in UTF-8, 1 code unit each in JavaScript.
  assert.throws(() => encode(broadcast(room, undefined, '€'.repeat(22000))), /larger than/);
  assert.doesNotThrow(() => encode(broadcast(room, undefined, '€'.repeat(21000))));
});

test('decode accepts objects with a type and nothing else', () => {
  assert.deepEqual(decode('{"type":"pong","id":1,"seq":3}'), { type: 'pong', id: 1, seq: 3 });
  for (const bad of ['nope', '[]', 'null', '{"id":1}', '{"type":5}', new ArrayBuffer(2)]) {
    assert.throws(() => decode(bad), (err) => err.code === 'bad_frame', String(bad));
  }
});

test('nextSeq keeps the highest seq', () => {
  assert.equal(nextSeq(0, { seq: 1 }), 1);
  assert.equal(nextSeq(5, { seq: 3 }), 5);
  assert.equal(nextSeq(5, {}), 5);
  assert.equal(nextSeq(5, { seq: '9' }), 5);
});

test('seenSeq: a frame at or below the last seq processed is one seen already', () => {
  assert.equal(seenSeq(5, { seq: 5 }), true);
  assert.equal(seenSeq(5, { seq: 2 }), true);
  assert.equal(seenSeq(5, { seq: 6 }), false);
  assert.equal(seenSeq(0, { seq: 1 }), false);
  assert.equal(seenSeq(5, {}), false, 'frames without seq are never dropped');
  assert.equal(seenSeq(5, { seq: '3' }), false);
});

test('resumeOf reads the resume fields of a welcome', () => {
  assert.deepEqual(resumeOf({ type: 'welcome', peer: 'p' }), { token: null, grace: 30000, resumed: false, lastSeq: null, error: null }, 'resume off');
  assert.deepEqual(resumeOf({ type: 'welcome', resume: 'R', resumed: false, resumeGrace: 10 }), { token: 'R', grace: 10000, resumed: false, lastSeq: null, error: null });
  assert.deepEqual(resumeOf({ type: 'welcome', resume: 'R2', resumed: true, resumeGrace: 30, lastSeq: 44 }), { token: 'R2', grace: 30000, resumed: true, lastSeq: 44, error: null });
  const refused = resumeOf({ type: 'welcome', resume: 'R3', resumed: false, resumeError: { code: 'session_overflow', message: 'too much' } });
  assert.equal(refused.error instanceof SwitchboardError, true);
  assert.equal(refused.error.code, 'session_overflow');
  assert.equal(refused.error.message, 'too much');
  assert.equal(resumeOf({ type: 'welcome', resume: '', resumed: 'yes', resumeGrace: -1, lastSeq: 3 }).token, null);
  assert.equal(resumeOf({ type: 'welcome', resumed: 'yes', lastSeq: 3 }).resumed, false, 'only true is true');
  assert.equal(resumeOf({ type: 'welcome', resumeGrace: -1 }).grace, 30000);
  assert.equal(resumeOf({ type: 'welcome', resumed: true }).lastSeq, null, 'no lastSeq: nothing to wait for');
  assert.equal(resumeOf({ type: 'welcome', resumeError: { message: 'x' } }).error.code, 'unknown');
});

test('reconnectDelay takes the delay of a reconnect frame, within bounds', () => {
  assert.equal(reconnectDelay({ type: 'reconnect', delay: 1234 }), 1234);
  assert.equal(reconnectDelay({ type: 'reconnect', delay: 12.7 }), 12);
  assert.equal(reconnectDelay({ type: 'reconnect', delay: -5 }), 0);
  assert.equal(reconnectDelay({ type: 'reconnect', delay: 1e9 }), 60000);
  assert.equal(reconnectDelay({ type: 'reconnect' }), null);
  assert.equal(reconnectDelay({ type: 'reconnect', delay: '100' }), null);
  assert.equal(reconnectDelay({ type: 'reconnect', delay: Infinity }), null);
});

test('room keys tell namespaces apart', () => {
  assert.notEqual(roomKey('a'), roomKey('a', 'ns'));
  assert.equal(roomKey('a'), roomKey('a', undefined));
  assert.notEqual(roomKey('a/b'), roomKey('b', 'a'));
});

test('close codes: what reconnects and what needs a new token', () => {
  assert.deepEqual(closeInfo(4401), { reason: 'unauthorized', reconnect: true, newToken: true });
  assert.equal(closeInfo(1001).reconnect, true);
  assert.equal(closeInfo(1006).reconnect, true);
  assert.equal(closeInfo(1009).reconnect, true);
  assert.equal(closeInfo(4408).reconnect, true);
  assert.equal(closeInfo(4429).reconnect, true);
  assert.equal(closeInfo(4400).reconnect, false);
  assert.equal(closeInfo(1000).reconnect, false);
  assert.deepEqual(closeInfo(4409), { reason: 'session taken over', reconnect: false, newToken: false });
  for (const code of [1001, 1006, 1009, 4408, 4429]) assert.equal(closeInfo(code).newToken, false);
});

test('replies settle the request with the same id', async () => {
  const r = new Requests();
  const a = r.track(join('x'));
  const b = r.track(ping());
  assert.notEqual(a.frame.id, b.frame.id);
  assert.deepEqual({ ...a.frame, id: undefined }, { type: 'join', room: 'x', id: undefined });
  assert.equal(r.settle({ type: 'pong' }), false, 'no id');
  assert.equal(r.settle({ type: 'pong', id: 999 }), false, 'unknown id');
  assert.equal(r.settle({ type: 'pong', id: b.frame.id }), true);
  assert.equal(r.settle({ type: 'pong', id: b.frame.id }), false, 'settled once only');
  assert.deepEqual(await b.reply, { type: 'pong', id: b.frame.id });
  // A server that echoes the id as a string still matches.
  assert.equal(r.settle({ type: 'joined', room: 'x', id: String(a.frame.id) }), true);
  assert.equal((await a.reply).type, 'joined');
  assert.equal(r.size, 0);
});

test('an error reply rejects with its code', async () => {
  const r = new Requests();
  const { frame, reply } = r.track(join('secret'));
  r.settle({ type: 'error', code: 'forbidden', message: 'no access to secret', id: frame.id });
  await assert.rejects(reply, (err) => err instanceof SwitchboardError && err.code === 'forbidden' && err.message === 'no access to secret');
});

test('requests time out, and rejectAll ends the rest', async () => {
  const r = new Requests();
  const slow = r.track(ping(), { timeout: 5 });
  await assert.rejects(slow.reply, (err) => err.code === 'timeout');
  assert.equal(r.size, 0);
  const a = r.track(ping(), { timeout: 0 });
  const b = r.track(ping());
  r.rejectAll(new SwitchboardError('disconnected'));
  await assert.rejects(a.reply, (err) => err.code === 'disconnected');
  await assert.rejects(b.reply, (err) => err.code === 'disconnected');
  assert.equal(r.settle({ type: 'pong', id: a.frame.id }), false);
});

test('requests outlive a cut: pause stops the timeouts, resend hands back the unanswered ones, oldest first', async () => {
  const r = new Requests();
  const a = r.track(broadcast('r', undefined, 'a'), { timeout: 20 });
  const b = r.track(broadcast('r', undefined, 'b'), { timeout: 20 });
  r.pause();
  await new Promise((res) => setTimeout(res, 40));
  assert.equal(r.size, 2, 'no timeout while paused');
  // The reply to a came in the replay; b never reached the server.
  assert.equal(r.settle({ type: 'ack', id: a.frame.id }), true);
  const held = r.track(ping(), { timeout: 20, hold: true });
  await new Promise((res) => setTimeout(res, 40));
  assert.equal(r.size, 2, 'a held request has no timeout yet');
  assert.deepEqual(r.resend().map((f) => [f.id, f.type]), [[b.frame.id, 'broadcast'], [held.frame.id, 'ping']]);
  assert.deepEqual(r.resend()[0], b.frame, 'the same frame, id included');
  // Once sent again, their timeouts run afresh.
  await assert.rejects(b.reply, (err) => err.code === 'timeout');
  await assert.rejects(held.reply, (err) => err.code === 'timeout' && /no reply to ping within 20 ms/.test(err.message));
  assert.equal(r.size, 0);
  assert.deepEqual(r.resend(), []);
});

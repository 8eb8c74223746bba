// Session resume (docs/protocol.md#session-resume) against a scripted server:
// what a resumed session keeps, what a refused one rebuilds, and that every
// request and signal reaches the server exactly once across a cut.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Switchboard } from './switchboard.js';
import { FakeMediaStream, FakePeerConnection, FakeTrack, goodServer, next, resumeServer, until } from './fakes.mjs';

const fast = { reconnectionDelay: 1, reconnectionDelayMax: 5 };
const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** A client of srv with a token. */
function client(srv, opts = {}) {
  return new Switchboard('ws://x/ws', { ...fast, auth: { token: 't' }, WebSocket: srv.WebSocket, ...opts });
}

/** Cuts a connection as a network does: no close frame (1006). */
function cut(srv, i) {
  srv.sockets[i].serverClose(1006);
}

/** A broadcast frame of the server from p0 in room r. */
const from0 = (data) => ({ type: 'broadcast', room: 'r', from: 'p0', data });

test('after a lost connection the hello carries the resume token and the last seq processed', async () => {
  const srv = resumeServer();
  const sb = client(srv);
  await sb.join('r');
  const s = srv.sessions[0];
  srv.send(s, from0(1));
  await until(() => sb.lastSeq === 2);
  cut(srv, 0);
  srv.send(s, from0(2)); // missed: replayed
  const [attempts, info] = await next(sb, 'reconnect');
  assert.equal(attempts, 1);
  assert.deepEqual(srv.sockets[1].sent[0], { type: 'hello', token: 't', resume: 'R1', lastSeq: 2 });
  assert.deepEqual(info, { resumed: true, resumeError: null });
  assert.equal(sb.resumed, true);
  assert.equal(sb.resumeError, null);
  assert.equal(sb.id, 'p1');
  await until(() => sb.lastSeq === 3);
  // The next loss resumes with the token of the last welcome.
  cut(srv, 1);
  await next(sb, 'reconnect');
  assert.deepEqual(srv.sockets[2].sent[0], { type: 'hello', token: 't', resume: 'R2', lastSeq: 3 });
  sb.disconnect();
  assert.equal(srv.sockets[2].closedByClient.code, 1000, 'disconnect() ends the session');
});

test('a resumed session keeps rooms, peers and links: no join, no peer events, links untouched', async () => {
  FakePeerConnection.instances.length = 0;
  const srv = resumeServer({ peers: [{ peer: 'p0', user: 'ann' }] });
  const sb = client(srv, { RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream });
  const room = await sb.join('r');
  const pc = room.getConnection('p0');
  await tick(); // the first "joined"
  const events = [];
  for (const e of ['peer-joined', 'peer-left', 'track-ended']) room.on(e, (p) => events.push(`${e} ${p.peer ?? p}`));
  room.on('joined', (info) => events.push(info));
  const sbEvents = [];
  sb.on('disconnect', (reason, d) => sbEvents.push(`disconnect ${reason} ${d.code}`));
  sb.on('connect', (info) => sbEvents.push(`connect ${info.resumed}`));
  sb.on('reconnect', (n, info) => sbEvents.push(`reconnect ${n} ${info.resumed}`));

  cut(srv, 0);
  assert.equal(room.joined, false);
  await next(sb, 'reconnect');
  await until(() => room.joined);
  assert.deepEqual(sbEvents, ['disconnect transport close 1006', 'connect true', 'reconnect 1 true']);
  assert.deepEqual(events, [{ rejoin: true, sameSession: true, resumed: true }]);
  assert.ok(!srv.sockets[1].sent.some((f) => f.type === 'join'), 'not joined again');
  assert.equal(room.self, 'p1');
  assert.deepEqual([...room.peers.keys()], ['p0']);
  assert.equal(room.getConnection('p0'), pc);
  assert.notEqual(pc.connectionState, 'closed');
  assert.equal(FakePeerConnection.instances.length, 1);
  assert.equal(srv.sessions.length, 1);
  sb.disconnect();
});

test('replayed frames are handled once, in order; a frame at or below lastSeq is ignored', async () => {
  const srv = resumeServer();
  const sb = client(srv, { RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream });
  const room = await sb.join('r');
  const got = [];
  room.on('broadcast', (from, data) => got.push(data));
  const s = srv.sessions[0];
  srv.send(s, from0(1));
  await until(() => got.length === 1);
  cut(srv, 0);
  srv.send(s, from0(2));
  srv.send(s, { type: 'peer-joined', room: 'r', peer: 'p7', user: 'zed' });
  srv.send(s, from0(3));
  await next(sb, 'reconnect');
  await until(() => got.length === 3);
  assert.deepEqual(got, [1, 2, 3]);
  assert.deepEqual([...room.peers.keys()], ['p7'], 'room events of the replay apply');
  assert.equal(sb.lastSeq, s.seq);

  // A server that sent a frame again would not get it processed twice.
  const ws = srv.sockets[1];
  ws.reply({ ...s.log[1], data: 'again' }, { noSeq: true });
  ws.reply({ ...s.log.at(-1), data: 'again' }, { noSeq: true });
  srv.send(s, from0(4));
  await until(() => got.length >= 4);
  await tick();
  assert.deepEqual(got, [1, 2, 3, 4]);
  sb.disconnect();
});

test('after the replay, a request without a reply is sent again, once; one answered in the replay is not', async () => {
  const srv = resumeServer();
  const sb = client(srv);
  await next(sb, 'connect');
  const s = srv.sessions[0];
  const ws0 = srv.sockets[0];
  s.deliver = false; // what the server sends now is lost with the connection (and replayed)
  const a = sb.request({ type: 'broadcast', room: 'r', data: 'a' });
  await until(() => s.received.length === 1);
  ws0.deaf = true; // what the client sends now never reaches the server
  const b = sb.request({ type: 'broadcast', room: 'r', data: 'b' });
  await until(() => ws0.sent.length === 3);
  cut(srv, 0);
  let c = null;
  // Made while the replay is under way: goes out after what the cut left.
  sb.once('reconnect', () => {
    c = sb.request({ type: 'broadcast', room: 'r', data: 'c' });
  });
  const [ackA, ackB] = await Promise.all([a, b]);
  assert.equal(ackA.type, 'ack');
  assert.equal(ackB.type, 'ack');
  assert.equal((await c).type, 'ack');
  assert.deepEqual(s.received.map((f) => f.data), ['a', 'b', 'c'], 'each reached the server once');
  const again = srv.sockets[1].sent;
  assert.deepEqual(again.map((f) => f.type === 'hello' ? 'hello' : f.data), ['hello', 'b', 'c']);
  assert.equal(again[1].id, ws0.sent[2].id, 'sent again with its id');
  sb.disconnect();
});

test('a request does not time out while the connection is away; it gets its full time again once resent', async () => {
  const srv = resumeServer();
  const sb = client(srv, { requestTimeout: 60, reconnectionDelay: 100, reconnectionDelayMax: 100, randomizationFactor: 0 });
  await next(sb, 'connect');
  srv.sockets[0].deaf = true;
  const req = sb.request({ type: 'ping' });
  await tick(20);
  cut(srv, 0); // away for 100 ms, longer than the request's 60
  const pong = await req;
  assert.equal(pong.type, 'pong');
  sb.disconnect();
});

test('a refused resume starts afresh: requests fail, rooms are joined again, lastSeq starts over', async () => {
  const srv = resumeServer();
  const sb = client(srv);
  const room = await sb.join('r');
  const s = srv.sessions[0];
  srv.send(s, from0(1));
  srv.send(s, from0(2));
  await until(() => sb.lastSeq === 3);
  srv.sockets[0].deaf = true;
  const pending = sb.request({ type: 'broadcast', room: 'r', data: 'lost' });
  cut(srv, 0);
  srv.expire(s); // the grace period ran out
  const [, info] = await next(sb, 'reconnect');
  assert.equal(info.resumed, false);
  assert.equal(info.resumeError.code, 'session_unknown');
  assert.equal(sb.resumeError, info.resumeError);
  assert.equal(sb.resumed, false);
  await assert.rejects(pending, (err) => err.code === 'disconnected');
  await until(() => room.joined);
  assert.equal(room.self, 'p2');
  assert.deepEqual(srv.sockets[1].sent.map((f) => f.type), ['hello', 'join']);
  assert.equal(srv.sockets[1].sent[0].resume, 'R1');
  assert.equal(sb.lastSeq, 1, 'the joined reply of the new session');
  assert.ok(!srv.sessions[1].received.some((f) => f.data === 'lost'));
  sb.disconnect();
});

test('a client that gives up on a silent connection closes it with 4000, so the session stays for the resume', async () => {
  const srv = resumeServer({ onFrame: (ws, f) => f.type === 'ping' && ws === srv.sockets[0] });
  const sb = client(srv, { pingInterval: 10, pingTimeout: 15 });
  const [reason] = await next(sb, 'disconnect');
  assert.equal(reason, 'ping timeout');
  assert.deepEqual(srv.sockets[0].closedByClient, { code: 4000, reason: 'ping timeout' });
  const [, info] = await next(sb, 'reconnect');
  assert.equal(info.resumed, true);
  sb.disconnect();
  assert.equal(srv.sockets[1].closedByClient.code, 1000);

  // Without a session to resume (a server with resume off) it is a normal close.
  const old = goodServer({ onFrame: (ws, f) => f.type === 'ping' });
  const sb2 = client(old, { pingInterval: 10, pingTimeout: 15 });
  await next(sb2, 'disconnect');
  assert.equal(old.sockets[0].closedByClient.code, 1000);
  sb2.disconnect();
});

test('close 4409: the session was resumed elsewhere; no reconnection', async () => {
  const srv = resumeServer();
  const sb = client(srv);
  await sb.join('r');
  const errors = [];
  sb.on('error', (e) => errors.push(e));
  const disconnected = next(sb, 'disconnect');
  srv.sockets[0].serverClose(4409, 'session resumed on another connection');
  const [reason, details] = await disconnected;
  assert.equal(reason, 'session taken over');
  assert.equal(details.code, 4409);
  assert.equal(errors.length, 1);
  assert.equal(errors[0].code, 'session_taken_over');
  assert.equal(errors[0].closeCode, 4409);
  assert.equal(sb.active, false);
  await tick(30);
  assert.equal(srv.sockets.length, 1, 'never reconnects by itself');
});

test('a reconnect frame sets the delay of the next attempt, which still tries to resume', async () => {
  const srv = resumeServer();
  // Without the frame the first attempt would wait 10 s (7.5 s with the grace cap).
  const sb = client(srv, { reconnectionDelay: 10000, reconnectionDelayMax: 10000, randomizationFactor: 0 });
  const room = await sb.join('r');
  const s = srv.sessions[0];
  srv.send(s, { type: 'reconnect', delay: 40 });
  await until(() => sb.lastSeq === 2);
  const start = Date.now();
  srv.expire(s); // a drained server ends its sessions
  srv.sockets[0].serverClose(1001, 'shutting down');
  await next(sb, 'reconnect_attempt');
  const waited = Date.now() - start;
  assert.ok(waited >= 35 && waited < 1000, `waited ${waited} ms`);
  const [, info] = await next(sb, 'reconnect');
  assert.equal(srv.sockets[1].sent[0].resume, 'R1');
  assert.equal(info.resumeError.code, 'session_unknown');
  await until(() => room.joined && room.self === 'p2');
  sb.disconnect();
});

test('while the session can be resumed, attempts come well within its grace period', async () => {
  const srv = resumeServer({ grace: 1 });
  const sb = client(srv, { reconnectionDelay: 10000, reconnectionDelayMax: 10000, randomizationFactor: 0 });
  await next(sb, 'connect');
  const start = Date.now();
  cut(srv, 0);
  const [, info] = await next(sb, 'reconnect');
  const waited = Date.now() - start;
  assert.ok(waited < 1000, `waited ${waited} ms`);
  assert.equal(info.resumed, true);
  sb.disconnect();
});

test('broadcasts made while away go out once the session is resumed', async () => {
  const srv = resumeServer();
  const sb = client(srv, { reconnectionDelay: 50, reconnectionDelayMax: 50, randomizationFactor: 0 });
  const room = await sb.join('r');
  cut(srv, 0);
  const first = room.broadcast('one');
  const second = room.broadcast('two');
  let done = false;
  Promise.all([first, second]).then(() => (done = true));
  await tick();
  assert.equal(done, false, 'waiting for the connection');
  await next(sb, 'reconnect');
  await Promise.all([first, second]);
  assert.deepEqual(srv.sockets[1].sent.map((f) => (f.type === 'broadcast' ? f.data : f.type)), ['hello', 'one', 'two']);
  assert.deepEqual(srv.sessions[0].received.filter((f) => f.type === 'broadcast').map((f) => f.data), ['one', 'two']);
  sb.disconnect();
});

test('signals of a link across a cut: the unanswered one is sent again, the ones made while away follow, each once', async () => {
  FakePeerConnection.instances.length = 0;
  const srv = resumeServer({ peers: [{ peer: 'p9' }] }); // p1 < p9: p1 is polite and waits for p9's offer
  const sb = client(srv, { RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream });
  const room = await sb.join('r');
  const s = srv.sessions[0];
  const ws0 = srv.sockets[0];
  ws0.deaf = true;
  srv.send(s, { type: 'signal', room: 'r', from: 'p9', data: { description: { type: 'offer', sdp: 'o' } } });
  await until(() => ws0.sent.some((f) => f.type === 'signal'));
  // Listened for before the cut: the reconnection may come before the offer below is made.
  const reconnected = next(sb, 'reconnect');
  cut(srv, 0);
  // Renegotiation while away: the offer waits for the connection.
  const pc = room.getConnection('p9');
  room.publish(/** @type {any} */ (new FakeMediaStream([new FakeTrack('audio')])));
  await until(() => pc.signalingState === 'have-local-offer');
  await reconnected;
  await until(() => s.received.filter((f) => f.type === 'signal').length === 2);
  await tick(20);
  const signals = s.received.filter((f) => f.type === 'signal').map((f) => f.data.description.type);
  assert.deepEqual(signals, ['answer', 'offer'], 'in order, each once');
  const answer = ws0.sent.find((f) => f.type === 'signal');
  assert.equal(s.received.find((f) => f.type === 'signal').id, answer.id, 'the answer went again with its id');
  assert.equal(room.getConnection('p9'), pc);
  sb.disconnect();
});

test('a room left while away is left on the server after the resume; one joined while away is joined', async () => {
  const srv = resumeServer();
  const sb = client(srv);
  const gone = await sb.join('gone');
  await sb.join('stays');
  cut(srv, 0);
  await gone.leave();
  const later = sb.join('later', { ns: 'chat' });
  await next(sb, 'reconnect');
  await later;
  const sent = srv.sockets[1].sent.map((f) => `${f.type}${f.room ? ` ${f.room}` : ''}`);
  assert.deepEqual(sent, ['hello', 'leave gone', 'join later']);
  assert.deepEqual(sb.rooms.map((r) => [r.name, r.joined]), [['stays', true], ['later', true]]);
  sb.disconnect();
});

test('a join under way at the cut completes in the resumed session, without a second join', async () => {
  const srv = resumeServer();
  const sb = client(srv);
  await next(sb, 'connect');
  const s = srv.sessions[0];
  s.deliver = false; // the server joins, its reply is lost with the connection
  const joining = sb.join('r');
  await until(() => s.received.some((f) => f.type === 'join'));
  cut(srv, 0);
  const room = await joining;
  assert.equal(room.joined, true);
  assert.equal(s.received.filter((f) => f.type === 'join').length, 1);
  assert.deepEqual(srv.sockets[1].sent.map((f) => f.type), ['hello']);
  sb.disconnect();
});

test('an expiring token is replaced through getToken before the resume hello', async () => {
  const srv = resumeServer({ expires: Math.floor(Date.now() / 1000) + 30 });
  let n = 0;
  const sb = new Switchboard('ws://x/ws', { ...fast, getToken: () => `tok${++n}`, WebSocket: srv.WebSocket });
  await next(sb, 'connect');
  assert.equal(srv.sockets[0].sent[0].token, 'tok1');
  cut(srv, 0);
  const [, info] = await next(sb, 'reconnect');
  assert.deepEqual(srv.sockets[1].sent[0], { type: 'hello', token: 'tok2', resume: 'R1', lastSeq: 0 });
  assert.equal(info.resumed, true);
  sb.disconnect();
});

test('a session gone for longer than its grace is not resumed: waiting requests fail and the hello starts afresh', async () => {
  const srv = resumeServer({ grace: 0.001 });
  const unreachable = { on: false };
  const WS = class extends srv.WebSocket {
    constructor(url) {
      super(url);
      if (unreachable.on) setTimeout(() => this.serverClose(1006), 0);
    }
  };
  const sb = client(srv, { WebSocket: WS, reconnectionDelay: 10, reconnectionDelayMax: 10, randomizationFactor: 0 });
  await next(sb, 'connect');
  srv.sockets[0].deaf = true;
  const pending = sb.request({ type: 'broadcast', room: 'r', data: 1 });
  unreachable.on = true;
  cut(srv, 0);
  // The grace (1 ms) and the slack (30 s) pass while the server is unreachable.
  const realNow = Date.now;
  Date.now = () => realNow() + 31000;
  try {
    await assert.rejects(pending, (err) => err.code === 'disconnected');
  } finally {
    Date.now = realNow;
  }
  unreachable.on = false;
  const [, info] = await next(sb, 'reconnect');
  assert.equal(info.resumed, false);
  assert.equal(info.resumeError, null, 'no resume was tried');
  assert.equal(srv.sockets.at(-1).sent[0].resume, undefined);
  sb.disconnect();
});

test('a socket the server is closing gets no confirm: a browser would log an error for it', async () => {
  const srv = resumeServer();
  const sb = client(srv);
  await sb.join('r');
  srv.send(srv.sessions[0], from0(1));
  await until(() => sb.lastSeq === 2);
  srv.sockets[0].serverClosing(); // the confirm is due in a quarter second
  await tick(400);
  assert.equal(srv.sockets[0].droppedSends, 0);
  srv.sockets[0].serverClose(4000);
  await next(sb, 'reconnect');
  sb.disconnect();
});

test('the client confirms what its app processed, at most every quarter second, and not again without news', async () => {
  const srv = resumeServer();
  const sb = client(srv);
  await sb.join('r');
  const s = srv.sessions[0];
  for (let i = 0; i < 5; i++) srv.send(s, from0(i));
  await until(() => sb.lastSeq === 6);
  const confirms = () => srv.sockets[0].sent.filter((f) => f.type === 'confirm');
  assert.equal(confirms().length, 0, 'not at once: one confirm covers a burst');
  await until(() => confirms().length === 1);
  assert.deepEqual(confirms()[0], { type: 'confirm', lastSeq: 6 });
  await tick(300);
  assert.equal(confirms().length, 1, 'nothing new, nothing sent');
  srv.send(s, from0('more'));
  await until(() => confirms().length === 2);
  assert.deepEqual(confirms()[1], { type: 'confirm', lastSeq: 7 });
  sb.disconnect();
});

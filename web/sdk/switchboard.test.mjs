import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Switchboard, SwitchboardError, resolveURL } from './switchboard.js';
import { FakeMediaStream, FakePeerConnection, FakeTrack, fakeWebSocket, goodServer, next, until } from './fakes.mjs';

const fast = { reconnectionDelay: 1, reconnectionDelayMax: 5 };

test('the default URL is /ws on the page host', () => {
  assert.equal(resolveURL(undefined, { protocol: 'http:', host: 'h:8080', href: 'http://h:8080/x' }), 'ws://h:8080/ws');
  assert.equal(resolveURL(undefined, { protocol: 'https:', host: 'h', href: 'https://h/' }), 'wss://h/ws');
  assert.equal(resolveURL('/sig', { protocol: 'https:', host: 'h', href: 'https://h/app/' }), 'wss://h/sig');
  assert.equal(resolveURL('http://a:1/ws'), 'ws://a:1/ws');
  assert.equal(resolveURL('wss://a/ws'), 'wss://a/ws');
  assert.throws(() => resolveURL('ftp://a/'), (err) => err.code === 'bad_url');
  assert.throws(() => resolveURL(undefined, undefined), (err) => err.code === 'bad_url');
});

test('connects with the token and takes the welcome', async () => {
  const srv = goodServer({ iceServers: [{ urls: 'stun:s' }] });
  const sb = new Switchboard('ws://x/ws', { auth: { token: 'T1' }, WebSocket: srv.WebSocket });
  await next(sb, 'connect');
  assert.deepEqual(srv.sockets[0].sent[0], { type: 'hello', token: 'T1' });
  assert.equal(srv.sockets[0].url, 'ws://x/ws');
  assert.equal(sb.connected, true);
  assert.equal(sb.id, 'p1');
  assert.equal(sb.session, 's1');
  assert.deepEqual(sb.iceServers, [{ urls: 'stun:s' }]);
  assert.equal(await sb.ping() >= 0, true);
  assert.equal(sb.lastSeq, 1, 'the pong carried seq 1');
  sb.disconnect();
  assert.equal(sb.connected, false);
  assert.deepEqual(srv.sockets[0].closedByClient, { code: 1000, reason: 'client disconnect' });
});

test('autoConnect false waits for connect(), with auth set later', async () => {
  const srv = goodServer();
  const sb = new Switchboard('ws://x/ws', { autoConnect: false, WebSocket: srv.WebSocket });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(srv.sockets.length, 0);
  assert.equal(sb.active, false);
  sb.auth = { token: 'later' };
  sb.connect();
  sb.connect(); // no second socket
  await next(sb, 'connect');
  assert.equal(srv.sockets.length, 1);
  assert.equal(srv.sockets[0].sent[0].token, 'later');
  sb.disconnect();
});

test('getToken supplies a missing token', async () => {
  const srv = goodServer();
  const sb = new Switchboard('ws://x/ws', { getToken: async () => 'fetched', WebSocket: srv.WebSocket });
  await next(sb, 'connect');
  assert.equal(srv.sockets[0].sent[0].token, 'fetched');
  assert.equal(sb.auth.token, 'fetched');
  sb.disconnect();
});

test('token-expiring is answered with a refresh through getToken', async () => {
  let n = 0;
  const srv = goodServer({
    onFrame(ws, f) {
      if (f.type !== 'refresh') return false;
      ws.reply({ type: 'ack', expires: 2000000000, id: f.id });
      return true;
    },
  });
  const sb = new Switchboard('ws://x/ws', { getToken: async () => `tok${++n}`, WebSocket: srv.WebSocket });
  await next(sb, 'connect');
  const warned = next(sb, 'token-expiring');
  srv.sockets[0].reply({ type: 'token-expiring', expires: 1767225600 });
  assert.deepEqual(await warned, [1767225600]);
  await until(() => srv.sockets[0].sent.some((f) => f.type === 'refresh'));
  const refresh = srv.sockets[0].sent.find((f) => f.type === 'refresh');
  assert.equal(refresh.token, 'tok2');
  await until(() => sb.auth.token === 'tok2');
  assert.equal(srv.sockets.length, 1, 'no reconnection');
  // Without getToken the app refreshes itself.
  assert.equal(await sb.refresh('by-hand'), 2000000000);
  assert.equal(sb.auth.token, 'by-hand');
  sb.disconnect();
});

test('replies are matched by id, error replies reject', async () => {
  const srv = goodServer({
    onFrame(ws, f) {
      if (f.type !== 'join' || f.room !== 'secret') return false;
      ws.reply({ type: 'error', code: 'forbidden', message: 'not for you', id: f.id });
      return true;
    },
  });
  const sb = new Switchboard('ws://x/ws', { auth: { token: 't' }, WebSocket: srv.WebSocket });
  const errors = [];
  sb.on('error', (e) => errors.push(e));
  await assert.rejects(sb.join('secret'), (err) => err.code === 'forbidden' && err.message === 'not for you');
  assert.equal(sb.rooms.length, 0, 'a refused room is forgotten');
  const [a, b] = await Promise.all([sb.request({ type: 'ping' }), sb.request({ type: 'broadcast', room: 'r', data: 1 })]);
  assert.equal(a.type, 'pong');
  assert.equal(b.type, 'ack');
  assert.notEqual(a.id, b.id);
  assert.deepEqual(errors, [], 'answered errors are not emitted');
  sb.disconnect();
});

test('requests fail fast when not connected', async () => {
  const sb = new Switchboard('ws://x/ws', { autoConnect: false });
  await assert.rejects(sb.request({ type: 'ping' }), (err) => err.code === 'disconnected');
});

test('gives up after reconnectionAttempts against an unreachable server', async () => {
  const srv = fakeWebSocket({ onConnect: (ws) => ws.serverClose(1006) });
  const sb = new Switchboard('ws://x/ws', { ...fast, reconnectionAttempts: 3, auth: { token: 't' }, WebSocket: srv.WebSocket });
  const events = [];
  sb.on('error', (e) => events.push(`error ${e.code}`));
  sb.on('reconnect_attempt', (n) => events.push(`attempt ${n}`));
  sb.on('connect', () => events.push('connect'));
  await next(sb, 'reconnect_failed');
  assert.deepEqual(events, ['error unreachable', 'attempt 1', 'error unreachable', 'attempt 2', 'error unreachable', 'attempt 3', 'error unreachable']);
  assert.equal(srv.sockets.length, 4);
  assert.equal(sb.active, false);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.sockets.length, 4, 'no attempt after reconnect_failed');
});

test('reconnects after the server goes away and joins its rooms again', async () => {
  const srv = goodServer({ peers: [] });
  const sb = new Switchboard('ws://x/ws', { ...fast, auth: { token: 't' }, WebSocket: srv.WebSocket });
  const room = await sb.join('lobby', { ns: 'demo' });
  assert.equal(room.joined, true);
  assert.equal(room.self, 'p1');
  const events = [];
  sb.on('disconnect', (reason, d) => events.push(`disconnect ${reason} ${d.code}`));
  sb.on('reconnect_attempt', (n) => events.push(`attempt ${n}`));
  sb.on('connect', () => events.push(`connect ${sb.id}`));
  sb.on('reconnect', (n) => events.push(`reconnect ${n}`));
  const rejoined = next(sb, 'reconnect');
  srv.sockets[0].serverClose(1001, 'shutdown');
  assert.equal(room.joined, false);
  await rejoined;
  await until(() => room.joined);
  assert.deepEqual(events, ['disconnect server going away 1001', 'attempt 1', 'connect p2', 'reconnect 1']);
  assert.deepEqual(srv.sockets[1].sent.map((f) => f.type), ['hello', 'join']);
  assert.equal(srv.sockets[1].sent[1].ns, 'demo');
  assert.equal(room.joined, true);
  assert.equal(room.self, 'p2');
  sb.disconnect();
  assert.equal(sb.rooms.length, 0);
});

test('a refused token stops reconnection when there is no getToken', async () => {
  const srv = fakeWebSocket({
    onFrame(ws) {
      ws.reply({ type: 'error', code: 'token_expired', message: 'token expired' }, { noSeq: true });
      ws.serverClose(4401, 'unauthorized');
    },
  });
  const sb = new Switchboard('ws://x/ws', { ...fast, auth: { token: 'old' }, WebSocket: srv.WebSocket });
  const [err] = await next(sb, 'error');
  assert.equal(err.code, 'token_expired');
  assert.equal(err.closeCode, 4401);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(srv.sockets.length, 1);
  assert.equal(sb.active, false);
});

test('a refused token is replaced through getToken', async () => {
  let issued = 0;
  const srv = goodServer({
    onFrame(ws, f) {
      if (f.type !== 'hello' || f.token !== 'old') return false;
      ws.reply({ type: 'error', code: 'unauthorized', message: 'bad signature' }, { noSeq: true });
      ws.serverClose(4401);
      return true;
    },
  });
  const sb = new Switchboard('ws://x/ws', { ...fast, auth: { token: 'old' }, getToken: () => `new${++issued}`, WebSocket: srv.WebSocket });
  const errors = [];
  sb.on('error', (e) => errors.push(e.code));
  await next(sb, 'connect');
  assert.deepEqual(srv.sockets.map((s) => s.sent[0].token), ['old', 'new1']);
  assert.deepEqual(errors, ['unauthorized']);
  sb.disconnect();
});

test('a missing pong counts as a dead connection', async () => {
  let pings = 0;
  const srv = goodServer({
    onFrame(ws, f) {
      // The first session never answers pings.
      if (f.type === 'ping' && ws === srv.sockets[0]) {
        pings++;
        return true;
      }
      return false;
    },
  });
  const sb = new Switchboard('ws://x/ws', { ...fast, pingInterval: 10, pingTimeout: 15, auth: { token: 't' }, WebSocket: srv.WebSocket });
  const [reason, details] = await next(sb, 'disconnect');
  assert.equal(reason, 'ping timeout');
  assert.equal(details.code, undefined);
  assert.ok(pings >= 1);
  assert.ok(srv.sockets[0].closedByClient);
  await next(sb, 'reconnect');
  sb.disconnect();
});

test('no welcome in time counts as a failed attempt', async () => {
  const srv = fakeWebSocket({});
  const sb = new Switchboard('ws://x/ws', { ...fast, timeout: 10, reconnectionAttempts: 1, auth: { token: 't' }, WebSocket: srv.WebSocket });
  await next(sb, 'reconnect_failed');
  assert.equal(srv.sockets.length, 2);
});

test('peers of a room get a link with the ICE servers of the welcome', async () => {
  FakePeerConnection.instances.length = 0;
  const srv = goodServer({ peers: [{ peer: 'p0', user: 'ann', name: 'Ann' }, { peer: 'p9', user: 'bob', name: 'Bob' }], iceServers: [{ urls: 'turn:t' }] });
  const sb = new Switchboard('ws://x/ws', { auth: { token: 't' }, WebSocket: srv.WebSocket, RTCPeerConnection: FakePeerConnection });
  const room = await sb.join('r');
  assert.deepEqual([...room.peers.keys()], ['p0', 'p9']);
  assert.deepEqual(room.peers.get('p0'), { peer: 'p0', user: 'ann', name: 'Ann', state: 'connecting', connectionType: null });
  assert.equal(FakePeerConnection.instances.length, 2);
  assert.deepEqual(FakePeerConnection.instances[0].config, { iceServers: [{ urls: 'turn:t' }] });
  // p1 > p0: p1 is impolite towards p0 and opens the channels; p1 < p9: polite.
  assert.equal(room.getConnection('p0').channels.length, 2);
  assert.equal(room.getConnection('p9').channels.length, 0);

  const ws = srv.sockets[0];
  ws.reply({ type: 'signal', room: 'r', from: 'p9', data: { description: { type: 'offer', sdp: 'o' } } });
  await until(() => ws.sent.some((f) => f.type === 'signal'));
  const sig = ws.sent.find((f) => f.type === 'signal');
  assert.deepEqual({ ...sig, id: 0 }, { type: 'signal', room: 'r', to: 'p9', data: { description: { type: 'answer', sdp: 'answer-sdp' } }, id: 0 });

  // Fresh TURN credentials pushed by the server reach the open links.
  const fresh = next(sb, 'ice-servers');
  ws.reply({ type: 'ice-servers', iceServers: [{ urls: 'turn:t', username: 'u2', credential: 'c2' }] });
  await fresh;
  assert.deepEqual(sb.iceServers, [{ urls: 'turn:t', username: 'u2', credential: 'c2' }]);
  assert.deepEqual(FakePeerConnection.instances[0].config, { iceServers: [{ urls: 'turn:t', username: 'u2', credential: 'c2' }] });

  const left = next(room, 'peer-left');
  ws.reply({ type: 'peer-left', room: 'r', peer: 'p9' });
  assert.equal((await left)[0].peer, 'p9');
  assert.equal(FakePeerConnection.instances[1].connectionState, 'closed');
  assert.deepEqual([...room.peers.keys()], ['p0']);
  sb.disconnect();
});

test('rtcConfig reaches every connection, and a published stream survives a server restart', async () => {
  FakePeerConnection.instances.length = 0;
  const srv = goodServer({ peers: [{ peer: 'p0' }], iceServers: [{ urls: 'turn:t' }] });
  const sb = new Switchboard('ws://x/ws', {
    ...fast, auth: { token: 't' }, rtcConfig: { iceTransportPolicy: 'relay' },
    WebSocket: srv.WebSocket, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream,
  });
  const room = await sb.join('r');
  assert.deepEqual(FakePeerConnection.instances[0].config, { iceTransportPolicy: 'relay', iceServers: [{ urls: 'turn:t' }] });
  const stream = new FakeMediaStream([new FakeTrack('audio'), new FakeTrack('video')]);
  room.publish(/** @type {any} */ (stream));
  const first = FakePeerConnection.instances[0];
  await until(() => first.getSenders().length === 2);

  // The server restarts: a new session, a new peer id (p2), the link is rebuilt.
  const ended = [];
  room.on('track-ended', (peer) => ended.push(peer));
  srv.sockets[0].serverClose(1001, 'restart');
  await next(sb, 'reconnect');
  await until(() => room.joined && FakePeerConnection.instances.length === 2);
  const second = FakePeerConnection.instances[1];
  assert.equal(first.connectionState, 'closed');
  assert.equal(room.self, 'p2');
  assert.deepEqual(second.config, { iceTransportPolicy: 'relay', iceServers: [{ urls: 'turn:t' }] });
  await until(() => second.getSenders().length === 2);
  assert.deepEqual(second.getSenders().map((x) => x.track), stream.getTracks(), 're-sent without the app doing anything');
  assert.equal(room.localStream, stream);
  sb.disconnect();
});

/** A server that answers refresh frames as told (one answer per refresh, then ack). */
function refreshServer(answers) {
  return goodServer({
    onFrame(ws, f) {
      if (f.type !== 'refresh') return false;
      const code = answers.shift();
      if (code === 'silence') return true;
      if (code) ws.reply({ type: 'error', code, message: `refresh refused: ${code}`, id: f.id });
      else ws.reply({ type: 'ack', expires: 2000000000, id: f.id });
      return true;
    },
  });
}

const soon = () => Math.floor(Date.now() / 1000) + 60;
const refreshes = (srv) => srv.sockets[0].sent.filter((f) => f.type === 'refresh');

test('a failed token refresh is reported as refresh_failed and tried again', async () => {
  const srv = refreshServer(['rate_limited']);
  let calls = 0;
  const getToken = async () => {
    calls++;
    if (calls === 2) throw new Error('backend down'); // the first refresh's token
    return `tok${calls}`;
  };
  const sb = new Switchboard('ws://x/ws', { ...fast, tokenRefreshDelay: 5, getToken, WebSocket: srv.WebSocket });
  const errors = [];
  sb.on('error', (e) => errors.push(e));
  await next(sb, 'connect');
  srv.sockets[0].reply({ type: 'token-expiring', expires: soon() });
  await until(() => sb.auth.token === 'tok4');
  // getToken failed, then the server said rate_limited, then it worked.
  assert.deepEqual(refreshes(srv).map((f) => f.token), ['tok3', 'tok4']);
  assert.deepEqual(errors.map((e) => e.code), ['refresh_failed', 'refresh_failed']);
  assert.match(errors[0].message, /getToken failed: backend down; trying again in 1 s/);
  assert.match(errors[1].message, /refresh refused: rate_limited/);
  assert.ok(errors.every((e) => e instanceof SwitchboardError));
  sb.disconnect();
});

test('a token the server refuses is reported as it is, once', async () => {
  for (const code of ['forbidden', 'unauthorized', 'token_expired']) {
    const srv = refreshServer([code]);
    let n = 0;
    const sb = new Switchboard('ws://x/ws', { ...fast, tokenRefreshDelay: 1, getToken: () => `t${++n}`, WebSocket: srv.WebSocket });
    const errors = [];
    sb.on('error', (e) => errors.push(e.code));
    await next(sb, 'connect');
    srv.sockets[0].reply({ type: 'token-expiring', expires: soon() });
    await until(() => errors.length === 1);
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(errors, [code]);
    assert.equal(refreshes(srv).length, 1, 'not tried again');
    sb.disconnect();
  }
});

test('a token refresh stops with the connection, and at the token expiry', async () => {
  // The connection goes while getToken runs: nothing to report or retry.
  const srv = goodServer();
  let release;
  let n = 0;
  const getToken = () => (++n === 1 ? 't1' : new Promise((r) => (release = r)));
  const sb = new Switchboard('ws://x/ws', { ...fast, reconnection: false, tokenRefreshDelay: 1, getToken, WebSocket: srv.WebSocket });
  const errors = [];
  sb.on('error', (e) => errors.push(e.code));
  await next(sb, 'connect');
  srv.sockets[0].reply({ type: 'token-expiring', expires: soon() });
  await until(() => release !== undefined);
  srv.sockets[0].serverClose(1001, 'restart');
  release('late');
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(errors, []);
  assert.equal(refreshes(srv).length, 0);

  // A refresh that fails with the token about to expire is not tried again.
  const srv2 = refreshServer(['silence']);
  const sb2 = new Switchboard('ws://x/ws', { ...fast, requestTimeout: 10, tokenRefreshDelay: 1000, getToken: () => 't', WebSocket: srv2.WebSocket });
  const errors2 = [];
  sb2.on('error', (e) => errors2.push(e));
  await next(sb2, 'connect');
  srv2.sockets[0].reply({ type: 'token-expiring', expires: Math.floor(Date.now() / 1000) });
  await until(() => errors2.length === 1);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(errors2.length, 1);
  assert.equal(errors2[0].code, 'refresh_failed');
  assert.match(errors2[0].message, /no reply to refresh .*giving up/);
  assert.equal(refreshes(srv2).length, 1);
  sb2.disconnect();
});

test('a "joined" listener added right after await sb.join() gets the first one', async () => {
  const srv = goodServer({ peers: [] });
  const sb = new Switchboard('ws://x/ws', { auth: { token: 't' }, WebSocket: srv.WebSocket, RTCPeerConnection: FakePeerConnection });
  const room = await sb.join('lobby');
  const seen = [];
  room.on('joined', (info) => seen.push(info));
  await until(() => seen.length === 1);
  assert.deepEqual(seen, [{ rejoin: false, sameSession: false }]);
  // Joining again gives the same room, and no second first "joined".
  assert.equal(await sb.join('lobby'), room);
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(seen.length, 1);
  sb.disconnect();
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_OFFLINE_BROADCASTS, Room } from './room.js';
import { SwitchboardError } from './protocol.js';
import { PeerLink } from './peer.js';
import { FakeMediaStream, FakePeerConnection, FakeTrack, until } from './fakes.mjs';

/** A host that answers joins with the given peers and records requests. */
function host(peers) {
  const h = {
    id: 'me1',
    iceServers: [],
    connected: true,
    sent: [],
    peers,
    async request(frame) {
      h.sent.push(frame);
      if (frame.type === 'join') return { type: 'joined', room: frame.room, peers: h.peers };
      return { type: 'ack' };
    },
  };
  return h;
}

/** Fake links that record signals and can be told they connected. */
function links() {
  const made = [];
  const factory = (opts) => {
    const link = {
      opts,
      state: 'connecting',
      closed: false,
      signals: [],
      sent: [],
      pc: { peer: opts.peerId },
      published: [],
      remoteStream: { peer: opts.peerId },
      handleSignal: (d) => link.signals.push(d),
      sendRaw: (m, o) => {
        if (link.throws) throw link.throws;
        return link.state === 'connected' && o?.reliable !== false ? (link.sent.push(m), true) : false;
      },
      publish: (stream) => link.published.push(stream),
      getStats: async () => ({ peer: opts.peerId }),
      resumed: 0,
      resume: () => link.resumed++,
      close: () => {
        link.closed = true;
        link.state = 'closed';
      },
      connect: () => {
        link.state = 'connected';
        opts.onState('connected');
      },
    };
    made.push(link);
    return link;
  };
  return { made, factory };
}

test('join fills peers and links every other peer', async () => {
  const h = host([{ peer: 'me1' }, { peer: 'a', user: 'ua', name: 'A' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  assert.equal(await room._ready(), room);
  assert.deepEqual([...room.peers.values()], [{ peer: 'a', user: 'ua', name: 'A', state: 'connecting', connectionType: null }]);
  assert.equal(l.made.length, 1);
  assert.equal(l.made[0].opts.selfId, 'me1');

  const states = [];
  room.on('peer-state', (p, s) => states.push(`${p} ${s}`));
  l.made[0].connect();
  assert.deepEqual(states, ['a connected']);
  assert.equal(room.peers.get('a').state, 'connected');

  const joined = [];
  room.on('peer-joined', (p) => joined.push(p.peer));
  room._handle({ type: 'peer-joined', room: 'r', peer: 'b', user: 'ub', name: 'B' });
  room._handle({ type: 'peer-joined', room: 'r', peer: 'b', user: 'ub', name: 'B' });
  room._handle({ type: 'peer-joined', room: 'r', peer: 'me1' });
  assert.deepEqual(joined, ['b']);
  assert.equal(l.made.length, 2);

  assert.equal(room.send({ hi: 1 }), 1, 'only the connected peer');
  assert.equal(room.sendTo('b', 'x'), false);
  assert.equal(room.sendTo('nobody', 'x'), false);
  assert.equal(room.getConnection('a').peer, 'a');
});

test('signals reach the link; from an unknown peer they make one', async () => {
  const h = host([]);
  const l = links();
  const room = new Room(h, 'r', 'ns', { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  room._handle({ type: 'signal', room: 'r', from: 'z', data: { candidate: { candidate: 'c' } } });
  assert.deepEqual([...room.peers.keys()], ['z']);
  assert.deepEqual(l.made[0].signals, [{ candidate: { candidate: 'c' } }]);
  // The link's own signals go out as signal requests with the namespace.
  l.made[0].opts.signal({ description: { type: 'offer', sdp: 's' } });
  assert.deepEqual(h.sent.at(-1), { type: 'signal', room: 'r', ns: 'ns', to: 'z', data: { description: { type: 'offer', sdp: 's' } } });
});

test('data and broadcasts are emitted with the sender', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  const got = [];
  room.on('data', (p, d) => got.push(['data', p, d]));
  room.on('broadcast', (p, d) => got.push(['broadcast', p, d]));
  l.made[0].opts.onData({ text: 'hi' });
  room._handle({ type: 'broadcast', room: 'r', from: 'a', data: 7 });
  assert.deepEqual(got, [['data', 'a', { text: 'hi' }], ['broadcast', 'a', 7]]);
});

test('a rejoin with a new peer id starts every link afresh', async () => {
  const h = host([{ peer: 'a' }, { peer: 'b' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  const left = [];
  room.on('peer-left', (p) => left.push(p.peer));
  room._disconnected();
  assert.equal(room.joined, false);
  h.id = 'me2';
  h.peers = [{ peer: 'a' }, { peer: 'c' }];
  await room._join();
  assert.deepEqual(left, ['b']);
  assert.deepEqual([...room.peers.keys()], ['a', 'c']);
  assert.deepEqual(l.made.slice(0, 2).map((k) => k.closed), [true, true]);
  assert.deepEqual(l.made.slice(2).map((k) => [k.opts.selfId, k.opts.peerId]), [['me2', 'a'], ['me2', 'c']]);
});

test('a resumed session (same id) keeps its links', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  room._disconnected();
  await room._join();
  assert.equal(l.made.length, 1);
  assert.equal(l.made[0].closed, false);
});

test('"joined" fires on the first join and on every rejoin, also when nobody changed', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  const seen = [];
  room.on('joined', (info) => seen.push(info));
  room._join();
  await room._ready();
  room._disconnected();
  await room._join(); // same session, same peers
  room._disconnected();
  h.id = 'me2';
  await room._join(); // new session
  assert.deepEqual(seen, [
    { rejoin: false, sameSession: false },
    { rejoin: true, sameSession: true },
    { rejoin: true, sameSession: false },
  ]);
});

test('leave closes the links and tells the server', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  let forgotten = false;
  const room = new Room(h, 'r', undefined, { forget: () => (forgotten = true), createLink: l.factory });
  room._join();
  await room._ready();
  await room.leave();
  assert.equal(forgotten, true);
  assert.equal(l.made[0].closed, true);
  assert.equal(room.peers.size, 0);
  assert.deepEqual(h.sent.at(-1), { type: 'leave', room: 'r' });
  room._handle({ type: 'peer-joined', room: 'r', peer: 'x' });
  assert.equal(room.peers.size, 0, 'a left room ignores frames');
});

test('a failed first join rejects, a lost connection waits for the next session', async () => {
  const h = host([]);
  h.request = async () => {
    throw new SwitchboardError('disconnected');
  };
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: links().factory });
  await room._join();
  let settled = false;
  room._ready().then(() => (settled = true), () => (settled = true));
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(settled, false);
  h.request = async () => {
    throw new SwitchboardError('limit_exceeded', 'room full');
  };
  await room._join();
  await assert.rejects(room._ready(), (err) => err.code === 'limit_exceeded');
});

test('publish reaches every link, later ones too; unpublish stops it', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  assert.equal(room.localStream, null);
  assert.throws(() => room.publish(/** @type {any} */ ({})), (err) => err.code === 'bad_request');
  const stream = new FakeMediaStream([new FakeTrack('video')]);
  room.publish(/** @type {any} */ (stream));
  assert.equal(room.localStream, stream);
  assert.deepEqual(l.made[0].published, [stream]);
  room._handle({ type: 'peer-joined', room: 'r', peer: 'b' });
  assert.deepEqual(l.made[1].published, [stream], 'a later peer gets it on its new link');
  room.unpublish();
  assert.equal(room.localStream, null);
  assert.deepEqual(l.made.map((k) => k.published.at(-1)), [null, null]);
  room._handle({ type: 'peer-joined', room: 'r', peer: 'c' });
  assert.deepEqual(l.made[2].published, []);
});

test('remote media, stats and connection type are per peer', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  assert.deepEqual(room.remoteStream('a'), { peer: 'a' });
  assert.equal(room.remoteStream('nobody'), undefined);
  assert.deepEqual(await room.getStats('a'), { peer: 'a' });
  assert.equal(await room.getStats('nobody'), null);

  const got = [];
  room.on('track', (p, t, s) => got.push(['track', p, t, s]));
  room.on('track-ended', (p, t, s) => got.push(['ended', p, t, s]));
  room.on('peer-state', (p, s, info) => got.push(['state', p, s, info.connectionType, info === room.peers.get('a')]));
  const { opts } = l.made[0];
  opts.onTrack('T', 'S');
  opts.onTrackEnded('T', 'S');
  l.made[0].connect();
  opts.onConnectionType('relayed');
  opts.onConnectionType('relayed');
  opts.onConnectionType('direct');
  assert.deepEqual(got, [
    ['track', 'a', 'T', 'S'],
    ['ended', 'a', 'T', 'S'],
    ['state', 'a', 'connected', null, true],
    ['state', 'a', 'connected', 'relayed', true],
    ['state', 'a', 'connected', 'direct', true],
  ]);
  assert.equal(room.peers.get('a').connectionType, 'direct');
  assert.equal(room.send('x', { reliable: false }), 0, 'the fake has no unreliable channel');
  assert.equal(room.sendTo('a', 'x', { reliable: false }), false);
  assert.equal(room.sendTo('a', 'x'), true);
});

test('links wait for signaling; a rejoin in the same session resumes them', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  const { opts } = l.made[0];
  assert.equal(opts.canSignal(), true);
  room._disconnected();
  h.connected = false;
  assert.equal(opts.canSignal(), false);
  h.connected = true;
  await room._join();
  assert.equal(opts.canSignal(), true);
  assert.equal(l.made[0].resumed, 1, 'after the rejoin in the same session');
});

/**
 * A signaling server in memory for rooms of real PeerLinks on fake
 * connections: joins list the others and announce the newcomer; signals are
 * delivered a moment later.
 */
function hub() {
  /** @type {Map<string, Room>} */
  const rooms = new Map();
  const errors = [];
  const add = (id) => {
    const h = {
      id,
      iceServers: [],
      connected: true,
      async request(frame) {
        if (frame.type === 'join') {
          const peers = [...rooms.keys()].filter((p) => p !== id).map((peer) => ({ peer }));
          for (const [p, r] of rooms) if (p !== id) setTimeout(() => r._handle({ type: 'peer-joined', room: 'r', peer: id }), 1);
          return { type: 'joined', room: 'r', peers };
        }
        if (frame.type === 'signal') {
          setTimeout(() => rooms.get(frame.to)?._handle({ type: 'signal', room: 'r', from: id, data: JSON.parse(JSON.stringify(frame.data)) }), 1);
        }
        return { type: 'ack' };
      },
    };
    const room = new Room(h, 'r', undefined, {
      forget() {},
      createLink: (o) => new PeerLink({ ...o, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream }),
    });
    room.on('error', (e) => errors.push(e));
    rooms.set(id, room);
    return room;
  };
  return { add, rooms, errors };
}

test('a mesh of three where everyone publishes at once settles with one m-line per kind', async () => {
  const net = hub();
  const tracks = [];
  const all = [];
  for (const id of ['p1', 'p2', 'p3']) {
    const room = net.add(id);
    room.on('track', (peer, track, stream) => tracks.push(`${id}<-${peer} ${track.kind} ${stream === room.remoteStream(peer)}`));
    all.push(room);
    await room._join();
  }
  await until(() => all.every((r) => r.peers.size === 2));
  for (const room of all) room.publish(/** @type {any} */ (new FakeMediaStream([new FakeTrack('audio'), new FakeTrack('video')])));
  await until(() => tracks.length === 12);
  await new Promise((r) => setTimeout(r, 30));
  assert.deepEqual(net.errors, []);
  assert.equal(tracks.length, 12);
  assert.ok(tracks.every((t) => t.endsWith('true')));
  for (const room of all) {
    for (const peer of room.peers.keys()) {
      const pc = /** @type {any} */ (room.getConnection(peer));
      assert.equal(pc.signalingState, 'stable');
      assert.deepEqual(pc.getTransceivers().map((t) => `${t.kind} ${t.currentDirection}`), ['audio sendrecv', 'video sendrecv'], `${room.self}->${peer}`);
      assert.equal(room.remoteStream(peer).getTracks().length, 2);
    }
  }
  for (const room of all) await room.leave();
});

test('send encodes once; bad data and refusing channels give send_failed, never a throw', async () => {
  const h = host([{ peer: 'a' }, { peer: 'b' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  const errors = [];
  room.on('error', (e) => errors.push(e));
  const [a, b] = l.made;
  a.connect();
  b.connect();
  assert.equal(room.send({ n: 1 }), 2);
  assert.deepEqual([a.sent, b.sent], [['{"n":1}'], ['{"n":1}']], 'the encoded message on each link');

  // A value that is not data: one error, not one per peer.
  assert.equal(room.send(undefined), 0);
  assert.equal(room.send(() => 1), 0);
  assert.deepEqual(errors.map((e) => e.code), ['send_failed', 'send_failed']);
  assert.equal(room.sendTo('a', undefined), false);
  assert.equal(errors.length, 3);
  assert.ok(errors.every((e) => e instanceof SwitchboardError));

  // A channel that refuses the message (full buffer, too large).
  errors.length = 0;
  a.throws = Object.assign(new Error('send queue is full'), { name: 'OperationError' });
  assert.equal(room.send('x'), 1, 'the other peer still gets it');
  assert.deepEqual(b.sent.at(-1), '"x"');
  assert.equal(room.sendTo('a', 'y'), false);
  assert.deepEqual(errors.map((e) => [e.code, e.message]), [
    ['send_failed', 'sending to a: send queue is full'],
    ['send_failed', 'sending to a: send queue is full'],
  ]);
  a.throws = new TypeError('Blob is not supported');
  assert.doesNotThrow(() => room.sendTo('a', 'z'));
  assert.equal(errors.length, 3);
});

test('sends the real PeerLink refuses reach the error event', async () => {
  const h = host([{ peer: 'a' }]);
  h.id = 'z'; // impolite towards a: this side opens the channels
  const room = new Room(h, 'r', undefined, {
    forget() {},
    createLink: (o) => new PeerLink({ ...o, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream }),
  });
  room._join();
  await room._ready();
  const errors = [];
  room.on('error', (e) => errors.push(e.code));
  const ch = /** @type {any} */ (room.getConnection('a')).channels[0];
  ch.readyState = 'open';
  ch.onopen();
  ch.send = () => {
    throw new TypeError('message too large');
  };
  assert.equal(room.sendTo('a', 'big'), false);
  assert.equal(room.send('big'), 0);
  assert.deepEqual(errors, ['send_failed', 'send_failed']);
  await room.leave();
});

/**
 * A host whose signal requests fail as refuse(n, k) says: n is the signal's
 * data.n, k how many times it was sent before; a code refuses it, null sends it.
 */
function flakyHost(peers, refuse) {
  const h = host(peers);
  const request = h.request;
  const count = new Map();
  h.request = async (frame) => {
    if (frame.type !== 'signal') return request(frame);
    h.sent.push(frame);
    const k = count.get(frame.data.n) ?? 0;
    count.set(frame.data.n, k + 1);
    const code = refuse(frame.data.n, k);
    if (code) throw new SwitchboardError(code, `signal refused: ${code}`);
    return { type: 'ack' };
  };
  return h;
}

const quickRetry = { minDelay: 5, maxDelay: 20, jitter: 0.5, random: () => 0.5 };
const signalsOf = (h) => h.sent.filter((f) => f.type === 'signal').map((f) => f.data.n);

test('a rate-limited or timed-out signal is sent again, and what came after it follows it again', async () => {
  const refusals = { answer: ['rate_limited'], cand1: ['timeout'] };
  const h = flakyHost([{ peer: 'a' }, { peer: 'b' }], (n, k) => refusals[n]?.[k] ?? null);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory, signalRetry: quickRetry });
  room._join();
  await room._ready();
  const errors = [];
  room.on('error', (e) => errors.push(e));
  const [a] = l.made;
  a.opts.signal({ n: 'answer' });
  a.opts.signal({ n: 'cand1' });
  a.opts.signal({ n: 'cand2' });
  await until(() => signalsOf(h).length === 6);
  await new Promise((r) => setTimeout(r, 20));
  // The last round, after both refusals, delivers all three in order.
  assert.deepEqual(signalsOf(h), ['answer', 'cand1', 'cand2', 'answer', 'cand1', 'cand2']);
  assert.deepEqual(errors, []);
});

test('a signal is given up after its retries, or at once for other failures', async () => {
  const h = flakyHost([{ peer: 'a' }], (n, k) => ({ 1: 'rate_limited', 2: k === 0 ? 'forbidden' : null, 3: k === 0 ? 'not_found' : null })[n] ?? null);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory, signalRetry: { ...quickRetry, retries: 3 } });
  room._join();
  await room._ready();
  const errors = [];
  room.on('error', (e) => errors.push(e.code));
  const { opts } = l.made[0];
  opts.signal({ n: 1 }); // refused every time: three retries, then given up
  opts.signal({ n: 2 }); // forbidden: not retried, never sent again
  opts.signal({ n: 3 }); // not_found: the peer left, nothing to report
  opts.signal({ n: 4 });
  await until(() => signalsOf(h).length === 10);
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(signalsOf(h), [1, 2, 3, 4, 1, 4, 1, 4, 1, 4]);
  assert.deepEqual(errors, ['forbidden', 'rate_limited']);
});

test('a closed link drops its unsent signals and stops retrying', async () => {
  const h = flakyHost([{ peer: 'a' }], (n) => (n === 1 ? 'rate_limited' : null));
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory, signalRetry: { ...quickRetry, minDelay: 30, maxDelay: 30 } });
  room._join();
  await room._ready();
  const { opts } = l.made[0];
  opts.signal({ n: 1 });
  opts.signal({ n: 2 });
  await until(() => signalsOf(h).length === 2);
  room._handle({ type: 'peer-left', room: 'r', peer: 'a' });
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(signalsOf(h), [1, 2]);
  opts.signal({ n: 3 });
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(signalsOf(h), [1, 2], 'a closed link signals nothing');
});

test('a link rebuilt in a new session starts without a connection type', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  l.made[0].connect();
  l.made[0].opts.onConnectionType('relayed');
  assert.equal(room.peers.get('a').connectionType, 'relayed');
  const seen = [];
  room.on('peer-state', (p, s, info) => seen.push([p, s, info.connectionType]));
  room._disconnected();
  h.id = 'me2';
  await room._join();
  assert.equal(l.made.length, 2);
  assert.deepEqual(room.peers.get('a'), { peer: 'a', user: undefined, name: undefined, state: 'connecting', connectionType: null });
  assert.deepEqual(seen, [['a', 'connecting', null]]);
  // A late report from the old link changes nothing.
  l.made[0].opts.onConnectionType('direct');
  assert.equal(room.peers.get('a').connectionType, null);
});

test('the first "joined" comes after join resolves; a quick rejoin keeps the order', async () => {
  const h = host([]);
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: links().factory });
  room._join();
  await room._ready();
  const seen = [];
  room.on('joined', (info) => seen.push(info));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(seen, [{ rejoin: false, sameSession: false }], 'a listener added after the await gets it');

  const other = new Room(host([]), 'r2', undefined, { forget() {}, createLink: links().factory });
  const order = [];
  other.on('joined', (info) => order.push(info.rejoin));
  other._join();
  await other._ready();
  other._disconnected();
  await other._join();
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(order, [false, true]);

  const gone = new Room(host([]), 'r3', undefined, { forget() {}, createLink: links().factory });
  let fired = 0;
  gone.on('joined', () => fired++);
  gone._join();
  await gone._ready();
  await gone.leave();
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(fired, 0, 'not after leave');
});

test('broadcasts made while offline wait, in order, and go out once the room is joined again', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  room._disconnected();
  h.connected = false;
  const sent = () => h.sent.filter((f) => f.type === 'broadcast').map((f) => f.data);
  const first = room.broadcast('one');
  const second = room.broadcast('two');
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(sent(), [], 'nothing goes while offline');
  h.connected = true;
  await room._join();
  await Promise.all([first, second]);
  assert.deepEqual(sent(), ['one', 'two']);
});

test('the offline queue is bounded, and leaving rejects what waits', async () => {
  const h = host([]);
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: links().factory });
  room._join();
  await room._ready();
  room._disconnected();
  h.connected = false;
  const waiting = [];
  for (let i = 0; i < MAX_OFFLINE_BROADCASTS; i++) waiting.push(room.broadcast(i).catch((e) => e.code));
  await assert.rejects(room.broadcast('one too many'), (e) => e.code === 'queue_full');
  await room.leave();
  const codes = await Promise.all(waiting);
  assert.ok(codes.every((c) => c === 'left'), `rejected with ${[...new Set(codes)]}`);
  await assert.rejects(room.broadcast('after leave'), (e) => e.code === 'left');
});


test('a resumed session keeps links and peers, sends the signals made while away, and says so', async () => {
  const h = host([{ peer: 'a' }]);
  const l = links();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: l.factory });
  room._join();
  await room._ready();
  await new Promise((r) => setTimeout(r, 0));
  const seen = [];
  room.on('joined', (info) => seen.push(info));
  room.on('peer-left', (p) => seen.push(`left ${p.peer}`));
  room._disconnected();
  h.connected = false;
  const [link] = l.made;
  link.opts.signal({ n: 'made while away' });
  const waiting = room.broadcast('while away');
  await new Promise((r) => setTimeout(r, 5));
  const signals = () => h.sent.filter((f) => f.type === 'signal').map((f) => f.data.n);
  assert.deepEqual(signals(), [], 'held while away');
  h.connected = true;
  // The replay: the room is not joined again yet, but its signals count.
  room._handle({ type: 'signal', room: 'r', from: 'a', data: { candidate: { candidate: 'c' } } });
  assert.deepEqual(link.signals, [{ candidate: { candidate: 'c' } }]);
  assert.equal(link.opts.canSignal(), false, 'restarts wait for the end of the replay');
  room._resumed();
  await waiting;
  assert.equal(room.joined, true);
  assert.deepEqual(signals(), ['made while away']);
  assert.equal(h.sent.filter((f) => f.type === 'join').length, 1, 'not joined again');
  assert.equal(link.resumed, 1);
  assert.equal(link.closed, false);
  assert.equal(l.made.length, 1);
  assert.deepEqual([...room.peers.keys()], ['a']);
  assert.deepEqual(seen, [{ rejoin: true, sameSession: true, resumed: true }]);
  room._resumed(); // nothing more to do
  assert.equal(seen.length, 1);
  assert.equal(h.sent.filter((f) => f.type === 'join').length, 1);
});

test('after a resume, a room that was not joined at the cut joins; one whose join is under way waits for it', async () => {
  const h = host([]);
  const fresh = new Room(h, 'fresh', undefined, { forget() {}, createLink: links().factory });
  fresh._resumed();
  assert.equal((await fresh._ready()).joined, true);
  assert.equal(h.sent.filter((f) => f.type === 'join').length, 1);

  /** @type {(v: any) => void} */
  let answer = () => {};
  const slow = { ...host([]), request: (/** @type {any} */ f) => (slow.sent.push(f), new Promise((r) => (answer = r))) };
  const joining = new Room(slow, 'joining', undefined, { forget() {}, createLink: links().factory });
  joining._join();
  joining._disconnected();
  joining._resumed();
  assert.equal(slow.sent.length, 1, 'no second join');
  answer({ type: 'joined', room: 'joining', peers: [] });
  assert.equal((await joining._ready()).joined, true);
});

test('a room left while its join was under way leaves the server once the join is answered', async () => {
  /** @type {(v: any) => void} */
  let answer = () => {};
  const h = host([]);
  const first = h.request;
  h.request = (f) => (f.type === 'join' ? (h.sent.push(f), new Promise((r) => (answer = r))) : first(f));
  const room = new Room(h, 'r', 'ns', { forget() {}, createLink: links().factory });
  room._join();
  await room.leave();
  answer({ type: 'joined', room: 'r', peers: [] });
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(h.sent.map((f) => f.type), ['join', 'leave']);
  assert.deepEqual(h.sent[1], { type: 'leave', room: 'r', ns: 'ns' });
});

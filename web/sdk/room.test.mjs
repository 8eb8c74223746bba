import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Room } from './room.js';
import { SwitchboardError } from './protocol.js';

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
      handleSignal: (d) => link.signals.push(d),
      send: (d) => (link.state === 'connected' ? (link.sent.push(d), true) : false),
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
  assert.deepEqual([...room.peers.values()], [{ peer: 'a', user: 'ua', name: 'A', state: 'connecting' }]);
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

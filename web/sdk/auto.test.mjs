// Auto rooms (auto.js, switch.js): a Room that follows the server's mode
// frames, make before break, with fake mesh links and a fake SFU link.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Room } from './room.js';
import { PeerLink } from './peer.js';
import { SfuLink } from './sfu.js';
import { DIRECTED, FENCE, SEQ, decodeEnvelope, encodeEnvelope, encodeFence } from './envelope.js';
import { FakeMediaStream, FakePeerConnection, FakeTrack, goodServer, relayEnvelope, until } from './fakes.mjs';
import { Switchboard } from './switchboard.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** A host whose joins answer an auto room in `mode`; records requests. */
function host(peers, mode = 'mesh', sw = 0) {
  const h = {
    id: 'me',
    iceServers: [],
    connected: true,
    sent: [],
    peers,
    mode,
    sw,
    /** @type {((f: any) => any)|null} answers a frame itself when it returns something */
    answer: null,
    async request(frame) {
      h.sent.push(frame);
      const a = h.answer?.(frame);
      if (a) return a;
      if (frame.type === 'join') return { type: 'joined', room: frame.room, mode: h.mode, auto: true, switch: h.sw, peers: h.peers };
      return { type: 'ack' };
    },
    /** The frames of a type sent, in order. */
    of: (type) => h.sent.filter((f) => f.type === type),
  };
  return h;
}

/** A fake mesh link: connect(), remote tracks, raw messages in and out. */
function meshFactory() {
  const made = [];
  const factory = (opts) => {
    const link = {
      opts,
      peer: opts.peerId,
      state: 'connecting',
      connectionType: null,
      closed: false,
      sent: [],
      pc: { mesh: opts.peerId },
      published: [],
      remoteStream: new FakeMediaStream(),
      handleSignal() {},
      sendRaw: (m, o) => link.state === 'connected' && (link.sent.push([m, o?.reliable !== false]), true),
      publish: (s) => link.published.push(s),
      getStats: async () => ({ via: 'mesh', peer: opts.peerId }),
      close() {
        if (link.closed) return;
        link.closed = true;
        for (const t of link.remoteStream.getTracks()) {
          link.remoteStream.removeTrack(t);
          opts.onTrackEnded?.(t, link.remoteStream);
        }
        link.state = 'closed';
        opts.onState?.('closed');
      },
      connect() {
        link.state = 'connected';
        opts.onState?.('connected');
      },
      /** The peer's media arrives on this link. */
      media(...kinds) {
        for (const k of kinds) {
          const t = new FakeTrack(k, `mesh-${opts.peerId}-${k}`);
          link.remoteStream.addTrack(t);
          opts.onTrack?.(t, link.remoteStream);
        }
      },
      receive: (raw) => opts.onMessage?.(raw),
      /** What went out, decoded. */
      out: () => link.sent.map(([m]) => decodeEnvelope(m, { seq: true, anonymous: true })),
    };
    made.push(link);
    return link;
  };
  return { made, factory, to: (peer) => made.filter((l) => l.peer === peer).at(-1) };
}

/** A fake SFU link: connect(), per-peer tracks, raw envelopes in and out. */
function sfuFactory() {
  const made = [];
  const factory = (opts) => {
    const streams = new Map();
    const link = {
      opts,
      state: 'connecting',
      closed: false,
      sub: { sfu: true },
      pub: null,
      handled: [],
      sent: [],
      published: [],
      handle: (m) => link.handled.push(m),
      publish: (s) => link.published.push(s),
      setQuality() {},
      setSize() {},
      setIceServers() {},
      dropPeer(peer) {
        for (const t of link.remoteStream(peer).getTracks()) {
          link.remoteStream(peer).removeTrack(t);
          opts.onTrackEnded?.(peer, t, link.remoteStream(peer));
        }
      },
      remoteStream(peer) {
        if (!streams.has(peer)) streams.set(peer, new FakeMediaStream());
        return streams.get(peer);
      },
      sendBytes: (b, o) => link.state === 'connected' && (link.sent.push([b, o?.reliable !== false]), true),
      getStats: async (peer) => ({ via: 'sfu', peer }),
      close() {
        if (link.closed) return;
        link.closed = true;
        for (const p of streams.keys()) link.dropPeer(p);
        link.state = 'closed';
        opts.onState?.('closed');
      },
      connect() {
        link.state = 'connected';
        opts.onState?.('connected');
      },
      media(peer, ...kinds) {
        for (const k of kinds) {
          const t = new FakeTrack(k, `sfu-${peer}-${k}`);
          link.remoteStream(peer).addTrack(t);
          opts.onTrack?.(peer, t, link.remoteStream(peer));
        }
      },
      receive: (raw) => opts.onMessage?.(raw),
      out: () => link.sent.map(([b]) => decodeEnvelope(b, { seq: true, anonymous: b[1] === 0 })),
      /** Asks the server to send an SFU message: goes through the room's outbox. */
      say: (msg) => opts.send(msg),
    };
    made.push(link);
    return link;
  };
  return { made, factory, get last() { return made.at(-1); } };
}

/**
 * A joined auto room on fakes.
 * @param {{peers?: any[], mode?: 'mesh'|'sfu', sw?: number, auto?: object}} [o]
 */
async function autoRoom({ peers = [{ peer: 'a' }, { peer: 'b' }], mode = 'mesh', sw = 0, auto = {} } = {}) {
  const h = host(peers, mode, sw);
  const mesh = meshFactory();
  const sfu = sfuFactory();
  const room = new Room(h, 'call', undefined, {
    forget() {},
    createLink: mesh.factory,
    createSfu: sfu.factory,
    MediaStream: FakeMediaStream,
    auto: { mediaFlowing: () => true, switching: { probeInterval: 5 }, linger: 0, ...auto },
  });
  const events = [];
  for (const e of ['track', 'track-ended']) room.on(e, (p, t, s) => events.push(`${e} ${p} ${t.id} ${s === room.remoteStream(p)}`));
  room.on('mode', (info) => events.push(`mode ${JSON.stringify(info)}`));
  room.on('peer-joined', (p) => events.push(`peer-joined ${p.peer}`));
  room.on('peer-left', (p) => events.push(`peer-left ${p.peer}`));
  room._join();
  await room._ready();
  return { h, room, mesh, sfu, events };
}

/** A mesh room of a and b, both connected with audio and video. */
async function meshCall(opts) {
  const r = await autoRoom(opts);
  for (const l of r.mesh.made) {
    l.connect();
    l.media('audio', 'video');
  }
  r.events.length = 0;
  return r;
}

const modeFrame = (sw, mode) => ({ type: 'mode', room: 'call', mode, switch: sw });
const ackFrame = (from, sw, mode, failed) => ({ type: 'mode-ack', room: 'call', from, switch: sw, mode, ...(failed ? { failed } : {}) });

test('joined says auto: a mesh at first, every message an envelope with its number', async () => {
  const { room, mesh, sfu } = await meshCall();
  assert.equal(room.auto, true);
  assert.equal(room.mode, 'mesh');
  assert.equal(sfu.made.length, 0);
  assert.deepEqual(mesh.made.map((l) => l.peer), ['a', 'b']);
  assert.deepEqual(room.remoteStream('a').getTracks().map((t) => t.id), ['mesh-a-audio', 'mesh-a-video']);
  assert.equal(room.send({ n: 1 }), 2);
  assert.equal(room.sendTo('b', 'x'), true);
  assert.equal(room.send('u', { reliable: false }), 2);
  assert.deepEqual(mesh.to('a').out().map((e) => [e.seq, e.payload]), [[1, '{"n":1}'], [undefined, '"u"']]);
  assert.deepEqual(mesh.to('b').out().map((e) => [e.seq, e.directed, e.payload]), [[1, false, '{"n":1}'], [2, true, '"x"'], [undefined, false, '"u"']]);
  // What comes is opened the same way.
  const got = [];
  room.on('data', (p, d) => got.push([p, d]));
  mesh.to('a').receive(encodeEnvelope('{"hi":1}', null, { seq: 1 }).buffer);
  mesh.to('a').receive('"not an envelope"');
  assert.deepEqual(got, [['a', { hi: 1 }]]);
  await room.leave();
});

test('to the SFU, make before break: sfu-join, the SFU link beside the mesh, each peer moved once its media comes, then mode-ack', async () => {
  const { h, room, mesh, sfu, events } = await meshCall();
  const streamA = room.remoteStream('a');
  const states = [];
  room.on('peer-state', (p, s, info) => states.push(`${p} ${s} ${info.connectionType}`));
  room.publish(new FakeMediaStream([new FakeTrack('video')]));
  room._handle(modeFrame(1, 'sfu'));
  assert.deepEqual(h.of('sfu-join'), [{ type: 'sfu-join', room: 'call' }]);
  assert.equal(sfu.made.length, 1);
  assert.equal(sfu.last.published.length, 1, 'the SFU gets what is published');
  assert.equal(mesh.made.every((l) => !l.closed), true, 'the mesh keeps running');
  // The SFU's messages wait for sfu-join's ack (it came: the host answers at once).
  sfu.last.say({ kind: 'offer', pc: 'pub', sdp: 'x' });
  await until(() => h.of('sfu').length === 1);
  assert.ok(h.sent.indexOf(h.of('sfu-join')[0]) < h.sent.indexOf(h.of('sfu')[0]));

  sfu.last.connect();
  await tick(20);
  assert.equal(room.peers.get('a').connectionType, null, 'not moved: no media through the SFU yet');
  assert.equal(events.length, 0);
  sfu.last.media('a', 'audio', 'video');
  await until(() => room.peers.get('a').connectionType === 'sfu');
  assert.equal(room.remoteStream('a'), streamA, 'the same stream');
  assert.deepEqual(streamA.getTracks().map((t) => t.id), ['sfu-a-audio', 'sfu-a-video']);
  assert.deepEqual(events, [
    'track a sfu-a-audio true', 'track a sfu-a-video true', 'track-ended a mesh-a-audio true', 'track-ended a mesh-a-video true',
  ]);
  assert.equal(room.getConnection('a'), sfu.last.sub);
  assert.equal(room.getConnection('b'), mesh.to('b').pc);
  assert.deepEqual(await room.getStats('a'), { via: 'sfu', peer: 'a' });
  assert.equal(h.of('mode-ack').length, 0, 'b has not moved');
  assert.equal(room.mode, 'mesh');

  sfu.last.media('b', 'audio', 'video');
  await until(() => h.of('mode-ack').length === 1);
  assert.deepEqual(h.of('mode-ack'), [{ type: 'mode-ack', room: 'call', switch: 1, mode: 'sfu' }]);
  assert.equal(room.mode, 'sfu');
  assert.equal(events.at(-1), 'mode {"mode":"sfu","switch":1,"failed":[]}');
  assert.ok(!events.some((e) => e.startsWith('peer-')), 'no peer-left or peer-joined');
  assert.ok(states.includes('a connected sfu') && states.includes('b connected sfu'));

  // The mesh link to a closes once a has acked too; b's stays until b's ack.
  room._handle(ackFrame('a', 1, 'sfu'));
  await until(() => mesh.to('a').closed);
  assert.equal(mesh.to('b').closed, false);
  assert.equal(room.remoteStream('a').getTracks().length, 2, 'a keeps its SFU tracks');
  room._handle(ackFrame('b', 0, 'sfu')); // an older switch's ack counts for nothing
  assert.equal(mesh.to('b').closed, false);
  room._handle(ackFrame('b', 1, 'sfu'));
  await until(() => mesh.to('b').closed);
  await room.leave();
});

test('data across the switch: to a peer on the SFU once it acked, after a FENCE on the mesh; broadcasts once on the SFU', async () => {
  const { h, room, mesh, sfu } = await meshCall();
  room._handle(modeFrame(1, 'sfu'));
  sfu.last.connect();
  room.send('m1');
  sfu.last.media('a', 'audio', 'video');
  await until(() => room.peers.get('a').connectionType === 'sfu');
  room.send('m2'); // a's media comes through the SFU, but a has not acked: its data stays on the mesh
  room._handle(ackFrame('a', 1, 'sfu'));
  room.sendTo('a', 'm3');
  room.send('m4'); // a on the SFU, b on the mesh: once on the SFU, and on b's link
  room.sendTo('b', 'm5');
  assert.deepEqual(mesh.to('a').out().map((e) => [e.seq, e.fence === true, e.payload]), [
    [1, false, '"m1"'], [2, false, '"m2"'], [2, true, new ArrayBuffer(0)],
  ]);
  assert.deepEqual(mesh.to('b').out().map((e) => [e.seq, e.payload]), [[1, '"m1"'], [2, '"m2"'], [4, '"m4"'], [5, '"m5"']]);
  assert.deepEqual(sfu.last.out().map((e) => [e.peer, e.seq, e.payload]), [['a', 3, '"m3"'], ['', 4, '"m4"']]);
  sfu.last.media('b', 'audio', 'video');
  await until(() => h.of('mode-ack').length === 1);
  room._handle(ackFrame('b', 1, 'sfu'));
  const fenceB = mesh.to('b').out().at(-1);
  assert.deepEqual([fenceB.seq, fenceB.fence], [5, true]);

  // Receiving: a's SFU messages wait for a's fence on the mesh.
  const got = [];
  room.on('data', (p, d) => got.push(`${p}:${d}`));
  const fromSfu = (seq, text, from) => relayEnvelope(encodeEnvelope(text, null, { seq }), from);
  await until(() => mesh.to('a').closed && mesh.to('b').closed);
  room._handle(modeFrame(2, 'mesh')); // new links to both
  for (const p of ['a', 'b']) {
    mesh.to(p).connect();
    mesh.to(p).media('audio', 'video');
  }
  const a = mesh.to('a');
  sfu.last.receive(fromSfu(1, '1', 'a'));
  a.receive(encodeEnvelope('3', null, { seq: 3 }).buffer);
  sfu.last.receive(fromSfu(2, '2', 'a'));
  assert.deepEqual(got, ['a:1', 'a:2']);
  sfu.last.receive(relayFence(2, 'a'));
  assert.deepEqual(got, ['a:1', 'a:2', 'a:3']);
  // b's: the SFU stays until b's fence is in (what b sent there last), then closes.
  sfu.last.receive(fromSfu(1, '1', 'b'));
  mesh.to('b').receive(encodeEnvelope('2', null, { seq: 2 }).buffer);
  assert.deepEqual(got.slice(3), ['b:1']);
  await until(() => h.of('mode-ack').length === 2);
  room._handle(ackFrame('a', 2, 'mesh'));
  room._handle(ackFrame('b', 2, 'mesh'));
  await tick(80);
  assert.equal(sfu.last.closed, false, 'b has not fenced the SFU');
  sfu.last.receive(relayFence(1, 'b'));
  assert.deepEqual(got.slice(3), ['b:1', 'b:2']);
  await until(() => sfu.last.closed);
  await room.leave();
});

/** A FENCE through the SFU from peer. */
const relayFence = (seq, from) => relayEnvelope(encodeFence(seq, 'me'), from);

test('back to the mesh: links to every peer beside the SFU, peers moved as their links carry them, sfu-leave once everyone acked', async () => {
  const { h, room, mesh, sfu, events } = await autoRoom({ mode: 'sfu', sw: 3 });
  assert.equal(room.mode, 'sfu');
  assert.equal(mesh.made.length, 0, 'an auto room in sfu mode makes no mesh link');
  assert.equal(h.of('sfu-join').length, 0, 'joined in sfu mode: a participant at once');
  sfu.last.connect();
  sfu.last.media('a', 'video');
  sfu.last.media('b', 'video');
  const streamB = room.remoteStream('b');
  assert.equal(room.peers.get('a').connectionType, 'sfu');
  events.length = 0;
  room._handle(modeFrame(3, 'mesh')); // not newer: nothing
  assert.equal(mesh.made.length, 0);
  room._handle(modeFrame(4, 'mesh'));
  assert.deepEqual(mesh.made.map((l) => l.peer), ['a', 'b']);
  // Signals for those links are taken now.
  mesh.to('a').connect();
  mesh.to('a').media('video');
  await until(() => room.peers.get('a').connectionType === null);
  assert.deepEqual(events, ['track a mesh-a-video true', 'track-ended a sfu-a-video true']);
  assert.equal(sfu.last.closed, false);
  mesh.to('b').connect();
  mesh.to('b').media('video');
  await until(() => h.of('mode-ack').length === 1);
  assert.equal(room.remoteStream('b'), streamB);
  assert.deepEqual(h.of('mode-ack')[0], { type: 'mode-ack', room: 'call', switch: 4, mode: 'mesh' });
  assert.equal(room.mode, 'mesh');
  assert.equal(h.of('sfu-leave').length, 0, 'the others have not acked');
  room._handle(ackFrame('a', 4, 'mesh'));
  assert.equal(h.of('sfu-leave').length, 0);
  room._handle(ackFrame('b', 4, 'mesh'));
  await until(() => h.of('sfu-leave').length === 1);
  assert.equal(sfu.last.closed, true);
  assert.deepEqual(room.remoteStream('b').getTracks().map((t) => t.id), ['mesh-b-video'], 'closing the SFU took nothing shown');
  assert.equal(room.peers.get('b').state, 'connected');
  await room.leave();
});

test('a peer whose ack names us stays on the old path with us; one not moved by the deadline is failed', async () => {
  const { h, room, mesh, sfu, events } = await meshCall({ auto: { mediaFlowing: () => true, switching: { probeInterval: 5, deadline: 60 } } });
  room._handle(modeFrame(1, 'sfu'));
  sfu.last.connect();
  sfu.last.media('a', 'audio', 'video');
  await until(() => room.peers.get('a').connectionType === 'sfu');
  // b's media never comes through the SFU: failed at the deadline, kept on the mesh.
  await until(() => h.of('mode-ack').length === 1, 1000);
  assert.deepEqual(h.of('mode-ack')[0], { type: 'mode-ack', room: 'call', switch: 1, mode: 'sfu', failed: ['b'] });
  assert.equal(events.at(-1), 'mode {"mode":"sfu","switch":1,"failed":["b"]}');
  assert.equal(room.peers.get('b').connectionType, null);
  assert.equal(room.remoteStream('b').getTracks()[0].id, 'mesh-b-audio');
  // a could not move to us: the pair goes back to the mesh.
  room._handle(ackFrame('a', 1, 'sfu', ['me']));
  assert.equal(room.peers.get('a').connectionType, null);
  await tick(10);
  assert.equal(mesh.to('a').closed, false);
  assert.deepEqual(room.remoteStream('a').getTracks().map((t) => t.id), ['mesh-a-audio', 'mesh-a-video']);
  room.sendTo('a', 'x');
  assert.equal(mesh.to('a').out().at(-1).payload, '"x"');
  await room.leave();
});

test('a later mode frame supersedes a switch under way; peers already moved come back', async () => {
  const { h, room, mesh, sfu } = await meshCall();
  room._handle(modeFrame(1, 'sfu'));
  sfu.last.connect();
  sfu.last.media('a', 'audio', 'video');
  await until(() => room.peers.get('a').connectionType === 'sfu');
  const streamA = room.remoteStream('a');
  room._handle(modeFrame(2, 'mesh'));
  await until(() => h.of('mode-ack').length === 1);
  assert.deepEqual(h.of('mode-ack'), [{ type: 'mode-ack', room: 'call', switch: 2, mode: 'mesh' }], 'no ack of the superseded switch');
  assert.equal(room.remoteStream('a'), streamA);
  assert.deepEqual(streamA.getTracks().map((t) => t.id), ['mesh-a-audio', 'mesh-a-video']);
  assert.equal(mesh.made.length, 2, 'the mesh links were kept, none made again');
  room._handle(ackFrame('a', 2, 'mesh'));
  room._handle(ackFrame('b', 2, 'mesh'));
  await until(() => h.of('sfu-leave').length === 1);
  assert.equal(sfu.last.closed, true);
  assert.equal(room.mode, 'mesh');
  await room.leave();
});

test('joins and leaves during a switch: a joiner goes straight to the new path, a leaver is not waited for', async () => {
  const { h, room, mesh, sfu, events } = await meshCall();
  room._handle(modeFrame(1, 'sfu'));
  room._handle({ type: 'peer-joined', room: 'call', peer: 'c' });
  assert.equal(mesh.made.length, 2, 'no mesh link to a peer that joined after the mode frame');
  assert.equal(room.peers.get('c').connectionType, 'sfu');
  sfu.last.connect();
  sfu.last.media('c', 'video');
  assert.deepEqual(room.remoteStream('c').getTracks().map((t) => t.id), ['sfu-c-video']);
  sfu.last.media('a', 'audio', 'video');
  await until(() => room.peers.get('a').connectionType === 'sfu');
  room._handle({ type: 'peer-left', room: 'call', peer: 'b' });
  await until(() => h.of('mode-ack').length === 1);
  assert.equal(mesh.to('b').closed, true);
  assert.deepEqual(events.filter((e) => e.startsWith('peer-')), ['peer-joined c', 'peer-left b']);
  // c never had the mesh with us: its messages are delivered at once.
  const got = [];
  room.on('data', (p, d) => got.push(`${p}:${d}`));
  sfu.last.receive(new Uint8Array([SEQ | 1, 1, 99, 0, 0, 0, 9, 55]).buffer);
  assert.deepEqual(got, ['c:7']);
  // And going back while c is there: a mesh link to c too.
  room._handle(modeFrame(2, 'mesh'));
  assert.deepEqual(mesh.made.map((l) => l.peer), ['a', 'b', 'c']);
  await room.leave();
});

test('a resumed session replays the mode frame: control frames wait for the resume; a new session starts afresh', async () => {
  const { h, room, mesh, sfu } = await meshCall();
  room._disconnected();
  h.connected = false;
  room._handle(modeFrame(1, 'sfu')); // in the replay
  assert.equal(sfu.made.length, 1);
  assert.equal(h.of('sfu-join').length, 0, 'held while the connection is down');
  h.connected = true;
  room._resumed();
  await until(() => h.of('sfu-join').length === 1);
  sfu.last.connect();
  sfu.last.media('a', 'audio', 'video');
  sfu.last.media('b', 'audio', 'video');
  await until(() => h.of('mode-ack').length === 1);

  // A new session (a long cut): joined afresh, in the mode the room has now.
  room._disconnected();
  h.id = 'me2';
  h.mode = 'sfu';
  h.sw = 1;
  await room._join();
  assert.equal(mesh.made.slice(0, 2).every((l) => l.closed), true);
  assert.equal(sfu.made[0].closed, true);
  assert.equal(sfu.made.length, 2);
  assert.equal(room.mode, 'sfu');
  assert.equal(room.peers.get('a').connectionType, 'sfu');
  await room.leave();
  assert.equal(sfu.last.closed, true);
});

test('an old path lingers before it closes, so what was sent on it last gets through; a switch back keeps it', async () => {
  const { h, room, mesh, sfu } = await meshCall({ auto: { mediaFlowing: () => true, switching: { probeInterval: 5 }, linger: 40 } });
  room._handle(modeFrame(1, 'sfu'));
  sfu.last.connect();
  sfu.last.media('a', 'audio', 'video');
  sfu.last.media('b', 'audio', 'video');
  await until(() => h.of('mode-ack').length === 1);
  room._handle(ackFrame('a', 1, 'sfu'));
  room._handle(ackFrame('b', 1, 'sfu'));
  assert.equal(mesh.to('a').out().at(-1).fence, true, 'the fence went at once');
  await tick(10);
  assert.equal(mesh.to('a').closed, false, 'still open');
  await until(() => mesh.to('a').closed && mesh.to('b').closed);
  // Back to the mesh, everyone acks, and at once back to the SFU: the SFU link stays.
  room._handle(modeFrame(2, 'mesh'));
  for (const p of ['a', 'b']) {
    mesh.to(p).connect();
    mesh.to(p).media('audio', 'video');
  }
  await until(() => h.of('mode-ack').length === 2);
  room._handle(ackFrame('a', 2, 'mesh'));
  room._handle(ackFrame('b', 2, 'mesh'));
  room._handle(modeFrame(3, 'sfu'));
  await tick(60);
  assert.equal(sfu.last.closed, false);
  assert.equal(sfu.made.length, 1);
  assert.equal(h.of('sfu-leave').length, 0);
  await until(() => h.of('mode-ack').length === 3);
  await room.leave();
});

test('an SFU that refuses sfu-join: an error event, no SFU link, every peer failed at the deadline and kept on the mesh', async () => {
  const { SwitchboardError } = await import('./protocol.js');
  const { h, room, mesh, sfu, events } = await meshCall({ auto: { mediaFlowing: () => true, switching: { probeInterval: 5, deadline: 60 }, linger: 0 } });
  h.answer = (f) => {
    if (f.type === 'sfu-join') throw new SwitchboardError('limit_exceeded', 'the SFU is full');
    return null;
  };
  const errors = [];
  room.on('error', (e) => errors.push(e.code));
  room._handle(modeFrame(1, 'sfu'));
  await until(() => h.of('mode-ack').length === 1, 1000);
  assert.deepEqual(errors, ['limit_exceeded']);
  assert.equal(sfu.last.closed, true);
  assert.deepEqual(h.of('mode-ack')[0], { type: 'mode-ack', room: 'call', switch: 1, mode: 'sfu', failed: ['a', 'b'] });
  assert.equal(events.at(-1), 'mode {"mode":"sfu","switch":1,"failed":["a","b"]}');
  assert.equal(mesh.made.every((l) => !l.closed), true);
  assert.equal(room.send('still here'), 2);
  await room.leave();
});

test('leaving during a switch stops every timer', async () => {
  const { room, sfu } = await meshCall({ auto: { mediaFlowing: () => true, switching: { probeInterval: 5, deadline: 10_000 } } });
  room._handle(modeFrame(1, 'sfu'));
  sfu.last.connect();
  await room.leave();
  // node --test would hang on a timer left running.
});

test('rooms that are not auto keep the wire format of before: raw JSON on mesh links', async () => {
  const h = host([{ peer: 'a' }]);
  h.answer = (f) => (f.type === 'join' ? { type: 'joined', room: f.room, mode: 'mesh', peers: h.peers } : null);
  const mesh = meshFactory();
  const room = new Room(h, 'r', undefined, { forget() {}, createLink: mesh.factory });
  room._join();
  await room._ready();
  assert.equal(room.auto, false);
  assert.equal(mesh.made[0].opts.onMessage, undefined);
  mesh.made[0].connect();
  room.send({ a: 1 });
  assert.deepEqual(mesh.made[0].sent, [['{"a":1}', true]]);
  room._handle(modeFrame(1, 'sfu'));
  assert.equal(h.of('sfu-join').length, 0);
  await room.leave();
});

test('DIRECTED and FENCE flags are what the contract says', () => {
  assert.deepEqual([DIRECTED, SEQ, FENCE], [2, 4, 8]);
});

test('PeerLink and SfuLink hand auto rooms each message undecoded, and SfuLink sends envelopes made already', () => {
  const raw = [];
  const link = new PeerLink({ selfId: 'b', peerId: 'a', signal: () => {}, onMessage: (m) => raw.push(m), onData: () => raw.push('decoded'), RTCPeerConnection: FakePeerConnection });
  const ch = link.pc.channels[0];
  ch.open();
  const env = encodeEnvelope('"x"', null, { seq: 1 });
  assert.equal(link.sendRaw(env), true);
  assert.equal(ch.sent[0], env);
  ch.receive(env.buffer);
  assert.deepEqual(raw, [env.buffer]);
  link.close();

  const got = [];
  const sfu = new SfuLink({ send() {}, onMessage: (m) => got.push(m), onData: () => got.push('decoded'), RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream });
  const rel = sfu.sub.remoteChannel('switchboard');
  assert.equal(sfu.sendBytes(env), false, 'not open yet');
  rel.open();
  assert.equal(sfu.sendBytes(env), true);
  assert.equal(rel.sent[0], env);
  rel.receive(env.buffer);
  assert.deepEqual(got, [env.buffer]);
  sfu.close();
});

test('through a Switchboard: mode and mode-ack frames reach the room, sfu-join and mode-ack go out as requests', async () => {
  const srv = goodServer({
    onFrame(ws, f) {
      if (f.type !== 'join') return false;
      ws.reply({ type: 'joined', room: f.room, mode: 'mesh', auto: true, switch: 0, peers: [{ peer: 'p0' }], id: f.id });
      return true;
    },
  });
  const sb = new Switchboard('ws://x/ws', {
    auth: { token: 't' }, WebSocket: srv.WebSocket, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream,
  });
  const room = await sb.join('call');
  assert.equal(room.auto, true);
  const ws = srv.sockets[0];
  ws.reply({ type: 'mode', room: 'call', mode: 'sfu', switch: 1 });
  await until(() => ws.sent.some((f) => f.type === 'sfu-join'));
  const join = ws.sent.find((f) => f.type === 'sfu-join');
  assert.equal(join.room, 'call');
  assert.equal(typeof join.id, 'number');
  // p0's ack reaches the machine (nothing to see yet: p0 has not moved for us).
  ws.reply({ type: 'mode-ack', room: 'call', from: 'p0', switch: 1, mode: 'sfu' });
  sb.disconnect();
});

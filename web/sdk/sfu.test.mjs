// A Room in an sfu room (sfu.js): one link to the server's SFU instead of a
// mesh, with the server's offers answered, tracks followed through the
// tracks map, publishing on a PeerConnection of its own, and data in
// envelopes over the server's channels.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Room } from './room.js';
import { SfuLink } from './sfu.js';
import { Switchboard } from './switchboard.js';
import { DIRECTED, TEXT, encodeEnvelope } from './envelope.js';
import {
  FakeMediaStream, FakePeerConnection, FakeResizeObserver, FakeTrack, goodServer, next, resumeServer, sdpOffer, until,
} from './fakes.mjs';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** A host whose joins say mode sfu (or what `mode` says); records requests. */
function host(peers, mode = 'sfu') {
  const h = {
    id: 'me',
    iceServers: [{ urls: 'stun:x' }],
    connected: true,
    sent: [],
    peers,
    mode,
    async request(frame) {
      h.sent.push(frame);
      if (frame.type === 'join') return { type: 'joined', room: frame.room, peers: h.peers, ...(h.mode ? { mode: h.mode } : {}) };
      return { type: 'ack' };
    },
    /** The SFU messages sent, in order. */
    sfu: () => h.sent.filter((f) => f.type === 'sfu').map((f) => f.data),
  };
  return h;
}

/** A joined room with the real SfuLink on fake PeerConnections; links made for a mesh are counted. */
async function sfuRoom(peers = [{ peer: 'a', name: 'A' }, { peer: 'b' }], mode = 'sfu') {
  FakePeerConnection.instances.length = 0;
  const h = host(peers, mode);
  const links = [];
  const sfus = [];
  const room = new Room(h, 'r', undefined, {
    forget() {},
    createLink: (o) => {
      links.push(o);
      return { state: 'connecting', pc: {}, handleSignal() {}, sendRaw: () => false, close() {} };
    },
    createSfu: (o) => {
      const link = new SfuLink({ ...o, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream, sizeInterval: 30 });
      sfus.push(link);
      return link;
    },
  });
  room._join();
  await room._ready();
  return { h, room, links, sfus };
}

/** The server's offer: each track as [mid, kind, peer, trackId]. */
function offer(tracks, extra = []) {
  const sections = tracks.map(([mid, kind, peer, id]) => ({ mid, kind, stream: peer, track: `${peer}:${id}` }));
  const map = Object.fromEntries(tracks.map(([, kind, peer, id]) => [`${peer}:${id}`, { peer, kind, stream: peer }]));
  return { type: 'sfu', room: 'r', data: { kind: 'offer', pc: 'sub', sdp: sdpOffer([...sections, ...extra]), tracks: map } };
}

/** Every event of the room's media, as strings. */
function record(room) {
  const got = [];
  room.on('track', (p, t, s) => got.push(`track ${p} ${t.kind} ${s.getTracks().includes(t)}`));
  room.on('track-ended', (p, t, s) => got.push(`ended ${p} ${t.kind} ${s.getTracks().includes(t)}`));
  return got;
}

test('joined says the mode: an sfu room links no peer, its peers are reached through the SFU', async () => {
  const { room, links, sfus } = await sfuRoom();
  assert.equal(room.mode, 'sfu');
  assert.equal(links.length, 0, 'no mesh link');
  assert.equal(sfus.length, 1);
  assert.deepEqual([...room.peers.values()].map((p) => [p.peer, p.state, p.connectionType]), [['a', 'connecting', 'sfu'], ['b', 'connecting', 'sfu']]);
  assert.equal(room.getConnection('a'), sfus[0].sub);
  assert.deepEqual(sfus[0].sub.config, { iceServers: [{ urls: 'stun:x' }] });
  // A later peer too; the state of every peer follows the SFU link's.
  room._handle({ type: 'peer-joined', room: 'r', peer: 'c' });
  assert.equal(room.peers.get('c').connectionType, 'sfu');
  const states = [];
  room.on('peer-state', (p, s, info) => states.push(`${p} ${s} ${info.connectionType}`));
  sfus[0].sub.remoteChannel('switchboard').open();
  assert.deepEqual(states, ['a connected sfu', 'b connected sfu', 'c connected sfu']);
  sfus[0].sub.setConnectionState('failed');
  assert.equal(room.peers.get('b').state, 'failed');
});

test('a joined frame without mode (an older server) is a mesh room', async () => {
  const { room, links, sfus } = await sfuRoom([{ peer: 'a' }], null);
  assert.equal(room.mode, 'mesh');
  assert.equal(links.length, 1);
  assert.equal(sfus.length, 0);
  assert.equal(room.peers.get('a').connectionType, null);
  room.setQuality('a', 'low'); // no-op
  assert.deepEqual(room.peers.size, 1);
});

test('the server offer is answered as an sfu frame; its tracks map says whose each track is', async () => {
  const { h, room, sfus } = await sfuRoom();
  const got = record(room);
  room._handle(offer([['1', 'audio', 'a', 'mic'], ['2', 'video', 'a', 'cam']]));
  await until(() => h.sfu().length === 1);
  const pc = sfus[0].sub;
  assert.deepEqual(pc.log, ['setRemoteDescription offer', 'setLocalDescription answer']);
  const answer = h.sent.at(-1);
  assert.deepEqual({ ...answer, data: { ...answer.data, sdp: typeof answer.data.sdp } }, { type: 'sfu', room: 'r', data: { kind: 'answer', pc: 'sub', sdp: 'string' } });
  assert.deepEqual(got, ['track a audio true', 'track a video true']);
  const stream = room.remoteStream('a');
  assert.deepEqual(stream.getTracks().map((t) => t.kind), ['audio', 'video']);
  assert.equal(room.remoteStream('b').getTracks().length, 0);
  assert.equal(room.remoteStream('nobody'), undefined);

  // The next offer: b's video comes, a's audio goes (its m-line inactive).
  room._handle({ ...offer([['2', 'video', 'a', 'cam'], ['3', 'video', 'b', 'cam']], [{ mid: '1', kind: 'audio', dir: 'inactive' }]) });
  await until(() => h.sfu().length === 2);
  assert.deepEqual(got.slice(2), ['ended a audio false', 'track b video true']);
  assert.deepEqual(stream.getTracks().map((t) => t.kind), ['video']);

  // A track missing from the map is gone, even if its m-line still sends;
  // an m-line reused for another peer's track ends one and starts the other.
  const o = offer([['2', 'video', 'b', 'screen']]);
  o.data.sdp = sdpOffer([{ mid: '2', kind: 'video', stream: 'b', track: 'b:screen' }, { mid: '3', kind: 'video', stream: 'b', track: 'b:cam' }]);
  room._handle(o);
  await until(() => h.sfu().length === 3);
  assert.deepEqual(got.slice(4), ['ended a video false', 'track b video true', 'ended b video false']);
  assert.deepEqual(room.remoteStream('b').getTracks().length, 1);
});

test('a forwarded track whose receiver ends is a track-ended at once, and only once', async () => {
  const { h, room, sfus } = await sfuRoom();
  const got = record(room);
  room._handle(offer([['1', 'audio', 'a', 'mic'], ['2', 'video', 'b', 'cam']]));
  await until(() => h.sfu().length === 1);
  sfus[0].sub.getTransceivers()[1].receiver.track.end();
  assert.deepEqual(got, ['track a audio true', 'track b video true', 'ended b video false']);
  await room.leave();
  assert.deepEqual(got.slice(3), ['ended a audio false']);
});

test('offers are answered one at a time, in order, and candidates follow their offer', async () => {
  const { h, room, sfus } = await sfuRoom();
  room._handle(offer([['1', 'audio', 'a', 'mic']]));
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'candidate', pc: 'sub', candidate: { candidate: 'c1', sdpMid: '1' } } });
  room._handle(offer([['1', 'audio', 'a', 'mic'], ['2', 'video', 'b', 'cam']]));
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'candidate', pc: 'sub', candidate: null } });
  await until(() => h.sfu().length === 2);
  await tick();
  assert.deepEqual(sfus[0].sub.log, [
    'setRemoteDescription offer', 'setLocalDescription answer', 'addIceCandidate c1',
    'setRemoteDescription offer', 'setLocalDescription answer',
  ]);
  // Own candidates go out as sfu frames; the end of candidates as null.
  sfus[0].sub.onicecandidate({ candidate: { candidate: 'x', sdpMid: '0', toJSON: () => ({ candidate: 'x', sdpMid: '0' }) } });
  sfus[0].sub.onicecandidate({ candidate: { candidate: '' } });
  sfus[0].sub.onicecandidate({ candidate: null });
  assert.deepEqual(h.sfu().slice(2), [
    { kind: 'candidate', pc: 'sub', candidate: { candidate: 'x', sdpMid: '0' } },
    { kind: 'candidate', pc: 'sub', candidate: null },
  ]);
});

test('a candidate that comes before its description is added once the description is set', async () => {
  const { h, room, sfus } = await sfuRoom();
  const errors = [];
  room.on('error', (e) => errors.push(e));
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'candidate', pc: 'sub', candidate: { candidate: 'early', sdpMid: '1' } } });
  room._handle(offer([['1', 'audio', 'a', 'mic']]));
  await until(() => h.sfu().length === 1);
  await tick();
  assert.deepEqual(sfus[0].sub.log, ['setRemoteDescription offer', 'addIceCandidate early', 'setLocalDescription answer']);
  assert.deepEqual(errors, []);
});

test('publish makes the pub PeerConnection and offers sendonly, with simulcast for wide video', async () => {
  const { h, room, sfus } = await sfuRoom();
  const cam = new FakeTrack('video');
  cam.settings = { width: 1280, height: 720 };
  const mic = new FakeTrack('audio');
  const local = new FakeMediaStream([mic, cam]);
  room.publish(local);
  await until(() => h.sfu().some((m) => m.kind === 'offer'));
  const pub = sfus[0].pub;
  assert.ok(pub && pub !== sfus[0].sub);
  const [a, v] = pub.getTransceivers();
  assert.deepEqual([a.direction, a.sender.track, a.sender.encodings], ['sendonly', mic, [{}]]);
  assert.equal(v.sender.track, cam);
  assert.deepEqual(v.sender.encodings, [
    { rid: 'low', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
    { rid: 'medium', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
    { rid: 'high', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
  ]);
  const sent = h.sfu().find((m) => m.kind === 'offer');
  assert.equal(sent.pc, 'pub');
  assert.match(sent.sdp, /sendonly/);

  // The server answers; unpublish makes the senders inactive and offers again.
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'answer', pc: 'pub', sdp: pub.localDescription.sdp.replaceAll('sendonly', 'recvonly') } });
  await until(() => pub.signalingState === 'stable');
  room.unpublish();
  await until(() => h.sfu().filter((m) => m.kind === 'offer').length === 2);
  assert.deepEqual(pub.getTransceivers().map((t) => [t.direction, t.sender.track]), [['inactive', null], ['inactive', null]]);
  // Own pub candidates are marked so.
  pub.onicecandidate({ candidate: { candidate: 'p' } });
  assert.deepEqual(h.sfu().at(-1), { kind: 'candidate', pc: 'pub', candidate: { candidate: 'p' } });
  // Its failure is an error of the room, not a state of the peers.
  const errors = [];
  room.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
  pub.setConnectionState('failed');
  assert.deepEqual(errors, ['negotiation_failed: SFU link: the connection publishing to the server failed']);
  assert.equal(room.peers.get('a').state, 'connecting');
});

test('layers pauses the simulcast encodings the server names and sends the others, one setParameters at a time', async () => {
  const { h, room, sfus } = await sfuRoom();
  const cam = new FakeTrack('video');
  cam.settings = { width: 1280, height: 720 };
  const mic = new FakeTrack('audio');
  room.publish(new FakeMediaStream([mic, cam]));
  await until(() => h.sfu().some((m) => m.kind === 'offer'));
  const pub = sfus[0].pub;
  assert.equal(room.getPublishConnection(), pub);
  const offered = pub.localDescription.sdp;
  const [a, v] = pub.getTransceivers();
  const active = () => v.sender.encodings.map((e) => `${e.rid}:${e.active ?? true}`).join(' ');
  const errors = [];
  room.on('error', (e) => errors.push(e.message));
  const layers = (/** @type {unknown} */ track, /** @type {unknown} */ inactive) =>
    room._handle({ type: 'sfu', room: 'r', data: { kind: 'layers', track, active: [], inactive } });

  layers(cam.id, ['medium', 'high']);
  await until(() => v.sender.setParametersCalls.length === 1);
  assert.equal(active(), 'low:true medium:false high:false');
  assert.deepEqual(v.sender.encodings[0], { rid: 'low', scaleResolutionDownBy: 4, maxBitrate: 150_000 }, 'other parameters kept');

  // Three wishes at once: one setParameters at a time (the fake refuses
  // overlapping ones, as browsers do), and the last wish wins.
  layers(cam.id, ['low']);
  layers(cam.id, []);
  layers(cam.id, ['low', 'medium']);
  await until(() => active() === 'low:false medium:false high:true');
  await tick(20);
  assert.equal(active(), 'low:false medium:false high:true');
  assert.deepEqual(errors, []);

  // The track as this side's description names it (its msid), which need
  // not be the MediaStreamTrack's id.
  pub.localDescription = {
    type: 'offer',
    sdp: sdpOffer([{ mid: String(a.mid), kind: 'audio', stream: 's', track: 'x-mic' }, { mid: String(v.mid), kind: 'video', stream: 's', track: 'x-cam' }]),
  };
  layers('x-cam', ['high']);
  await until(() => active() === 'low:true medium:true high:false');

  // Unknown tracks, a sender without simulcast and malformed messages change nothing.
  const calls = v.sender.setParametersCalls.length;
  layers('nope', ['low']);
  layers('x-mic', ['low']);
  layers(cam.id, 'low');
  layers(7, ['low']);
  await tick(20);
  assert.equal(active(), 'low:true medium:true high:false');
  assert.equal(v.sender.setParametersCalls.length, calls);
  assert.deepEqual(a.sender.setParametersCalls, []);
  assert.deepEqual(errors, []);

  // Published again after unpublish, on the same transceiver: a new track
  // for the server, which starts it with every layer sent, and so does
  // the sender.
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'answer', pc: 'pub', sdp: offered.replaceAll('sendonly', 'recvonly') } });
  await until(() => pub.signalingState === 'stable');
  room.unpublish();
  await until(() => v.direction === 'inactive');
  room.publish(new FakeMediaStream([mic, cam]));
  await until(() => active() === 'low:true medium:true high:true');
  assert.equal(pub.getTransceivers().length, 2, 'the transceivers are reused');
  assert.deepEqual(errors, []);
});

test('small video is one encoding; nothing published means no pub PeerConnection', async () => {
  const { h, room, sfus } = await sfuRoom();
  room.unpublish();
  await tick();
  assert.equal(sfus[0].pub, null);
  const cam = new FakeTrack('video');
  cam.settings = { width: 320, height: 240 };
  room.publish(new FakeMediaStream([cam]));
  await until(() => h.sfu().some((m) => m.kind === 'offer'));
  assert.deepEqual(sfus[0].pub.getTransceivers()[0].sender.encodings, [{}]);
});

test('send and sendTo travel in envelopes on the server channels; envelopes that come are data events', async () => {
  const { room, sfus } = await sfuRoom();
  const errors = [];
  room.on('error', (e) => errors.push(`${e.code}: ${e.message}`));
  assert.equal(room.send({ hi: 1 }), 0, 'no channel yet');
  const rel = sfus[0].sub.remoteChannel('switchboard');
  const unrel = sfus[0].sub.remoteChannel('switchboard-unreliable', { ordered: false, maxRetransmits: 0 });
  rel.open();
  assert.equal(rel.binaryType, 'arraybuffer');
  assert.equal(room.send({ hi: 1 }), 2, 'addressed to both other peers');
  assert.equal(room.sendTo('a', new Uint8Array([5])), true);
  assert.equal(room.sendTo('nobody', 'x'), false);
  assert.equal(room.send('u', { reliable: false }), 0, 'unreliable channel not open');
  unrel.open();
  assert.equal(room.sendTo('b', 'u', { reliable: false }), true);
  assert.deepEqual(rel.sent.map((e) => [...e]), [
    [TEXT, 0, ...new TextEncoder().encode('{"hi":1}')],
    [DIRECTED, 1, 97, 5],
  ]);
  assert.deepEqual(unrel.sent.map((e) => [...e]), [[TEXT | DIRECTED, 1, 98, ...new TextEncoder().encode('"u"')]]);
  // A Blob cannot go in an envelope: send_failed, nothing thrown.
  assert.equal(room.send(new Blob(['x'])), 0);
  assert.equal(room.sendTo('a', new Blob(['x'])), false);
  assert.equal(errors.length, 2);
  assert.match(errors[0], /^send_failed: .*Blob cannot be sent in an SFU room/);

  const got = [];
  room.on('data', (p, d) => got.push([p, d]));
  const from = (peer, msg, flags = 0) => {
    const e = encodeEnvelope(msg, peer);
    e[0] = (e[0] & TEXT) | flags;
    return e.buffer;
  };
  rel.receive(from('a', '{"x":[1]}'));
  rel.receive(from('b', 'not json', DIRECTED));
  unrel.receive(from('a', new Uint8Array([1, 2])));
  rel.receive(new Uint8Array([1, 9, 97]).buffer); // bad: ignored
  rel.receive('text frames are not envelopes');
  assert.deepEqual(got.slice(0, 2), [['a', { x: [1] }], ['b', 'not json']]);
  assert.equal(got[2][0], 'a');
  assert.deepEqual([...new Uint8Array(got[2][1])], [1, 2]);
  assert.equal(got.length, 3);
});

test('setQuality and observe send quality and size messages; sizes are throttled and follow new tracks', async () => {
  globalThis.ResizeObserver = FakeResizeObserver;
  try {
    const { h, room } = await sfuRoom();
    assert.throws(() => room.setQuality('a', 'best'), /quality must be one of/);
    room.setQuality('a', 'low');
    await tick();
    assert.deepEqual(h.sfu(), [{ kind: 'quality', peer: 'a', quality: 'low' }]);

    const video = { clientWidth: 640, clientHeight: 360, isConnected: true };
    const stop = room.observe('a', video);
    await tick();
    assert.equal(h.sfu().length, 1, 'no video track of a yet: nothing to size');
    room._handle(offer([['1', 'audio', 'a', 'mic'], ['2', 'video', 'a', 'cam']]));
    await until(() => h.sfu().length === 3);
    assert.deepEqual(h.sfu().slice(1).map((m) => m.kind), ['answer', 'size']);
    assert.deepEqual(h.sfu()[2], { kind: 'size', track: 'a:cam', width: 640, height: 360 });
    const ro = FakeResizeObserver.instances.at(-1);
    ro.resize(video, 320, 180);
    ro.resize(video, 160, 90);
    await tick();
    assert.equal(h.sfu().length, 3, 'throttled');
    await until(() => h.sfu().length === 4);
    assert.deepEqual(h.sfu()[3], { kind: 'size', track: 'a:cam', width: 160, height: 90 });
    stop();
    await until(() => h.sfu().length === 5);
    assert.deepEqual(h.sfu()[4], { kind: 'size', track: 'a:cam', width: 0, height: 0 });
  } finally {
    delete globalThis.ResizeObserver;
  }
});

test('speakers, layer and SFU errors become room events', async () => {
  const { h, room } = await sfuRoom();
  room._handle(offer([['2', 'video', 'a', 'cam']]));
  await until(() => h.sfu().length === 1);
  const got = [];
  room.on('speakers', (peers) => got.push(['speakers', peers]));
  room.on('layer', (peer, track, layer, paused, media) => got.push(['layer', peer, track, layer, paused, media?.kind]));
  room.on('error', (e) => got.push(['error', e.code, e.message]));
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'speakers', peers: ['b', 'a', 7] } });
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'layer', track: 'a:cam', peer: 'a', layer: 'low', paused: false } });
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'layer', track: 'a:cam', layer: 'none', paused: true } });
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'error', code: 'bad_sdp', message: 'cannot parse the offer' } });
  room._handle({ type: 'sfu', room: 'r', data: { kind: 'future-thing' } });
  await tick();
  assert.deepEqual(got, [
    ['speakers', ['b', 'a']],
    ['layer', 'a', 'a:cam', 'low', false, 'video'],
    ['layer', 'a', 'a:cam', 'none', true, 'video'],
    ['error', 'sfu_error', 'SFU: cannot parse the offer (bad_sdp)'],
  ]);
  assert.deepEqual(room.speakers, ['b', 'a']);
});

test('getStats of a peer reads the inbound RTP of its tracks only', async () => {
  const { h, room, sfus } = await sfuRoom();
  room._handle(offer([['1', 'video', 'a', 'cam'], ['2', 'video', 'b', 'cam']]));
  await until(() => h.sfu().length === 1);
  const pc = sfus[0].sub;
  const [ta, tb] = pc.getTransceivers();
  const stats = (t, ts, bytes) => [
    { id: 'T', type: 'transport', timestamp: t, bytesSent: 10, bytesReceived: 20, selectedCandidatePairId: 'CP' },
    { id: 'CP', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R', currentRoundTripTime: 0.02 },
    { id: 'L', type: 'local-candidate', candidateType: 'relay', protocol: 'udp' },
    { id: 'R', type: 'remote-candidate', candidateType: 'host', protocol: 'udp' },
    { id: 'IA', type: 'inbound-rtp', kind: 'video', mid: ta.mid, bytesReceived: bytes, framesDecoded: 10, frameWidth: 320, frameHeight: 180 },
    { id: 'IB', type: 'inbound-rtp', kind: 'video', trackIdentifier: tb.receiver.track.id, bytesReceived: 5 * bytes, framesDecoded: 99, frameWidth: 1280, frameHeight: 720 },
  ].map((s) => ({ ...s, timestamp: ts }));
  pc.stats = stats(0, 1000, 1000);
  const a1 = await room.getStats('a');
  assert.equal(a1.connectionType, 'sfu');
  assert.equal(a1.local.type, 'relay', 'the path to the server is relayed');
  assert.deepEqual(a1.video, { framesDecoded: 10, framesReceived: 0, frameWidth: 320, frameHeight: 180 });
  assert.equal(a1.bitrateIn, null);
  const b1 = await room.getStats('b');
  assert.equal(b1.video.framesDecoded, 99);
  pc.stats = stats(0, 2000, 2000);
  assert.equal((await room.getStats('a')).bitrateIn, 8000);
  assert.equal(await room.getStats('nobody'), null);
});

test('a peer that leaves ends its tracks; leave closes both PeerConnections', async () => {
  const { h, room, sfus } = await sfuRoom();
  room.publish(new FakeMediaStream([new FakeTrack('audio')]));
  room._handle(offer([['1', 'audio', 'a', 'mic'], ['2', 'video', 'b', 'cam']]));
  await until(() => h.sfu().length >= 2 && sfus[0].pub);
  const got = record(room);
  room._handle({ type: 'peer-left', room: 'r', peer: 'a' });
  assert.deepEqual(got, ['ended a audio false']);
  await room.leave();
  assert.deepEqual(got, ['ended a audio false', 'ended b video false']);
  assert.equal(sfus[0].sub.signalingState, 'closed');
  assert.equal(sfus[0].pub.signalingState, 'closed');
  assert.equal(h.sent.at(-1).type, 'leave');
});

test('a resumed session keeps the SFU link and sends what waited; a new session makes a new one and publishes again', async () => {
  const { h, room, sfus } = await sfuRoom();
  const local = new FakeMediaStream([new FakeTrack('audio')]);
  room.publish(local);
  await until(() => h.sfu().some((m) => m.kind === 'offer'));
  room.setQuality('b', 'high');
  await tick();
  room._disconnected();
  h.connected = false;
  sfus[0].sub.onicecandidate({ candidate: { candidate: 'while-away' } });
  await tick();
  assert.equal(h.sfu().some((m) => m.candidate?.candidate === 'while-away'), false, 'held');
  // Frames of the replay still reach the link.
  room._handle(offer([['1', 'audio', 'a', 'mic']]));
  h.connected = true;
  room._resumed();
  await until(() => h.sfu().some((m) => m.kind === 'answer'));
  assert.ok(h.sfu().some((m) => m.candidate?.candidate === 'while-away'));
  assert.equal(sfus.length, 1);
  assert.equal(sfus[0].sub.signalingState, 'stable');

  // A new session: a new peer id, a new link, the same stream published, the quality told again.
  const got = record(room);
  room._disconnected();
  h.id = 'me2';
  h.sent.length = 0;
  room._join();
  // The SFU may speak before the join's reply: its offer waits for the new link.
  room._handle(offer([['1', 'audio', 'a', 'mic']]));
  await until(() => sfus.length === 2 && h.sfu().some((m) => m.kind === 'answer'));
  assert.equal(sfus[0].sub.signalingState, 'closed');
  assert.equal(sfus[0].pub.signalingState, 'closed');
  assert.deepEqual(got, ['ended a audio false', 'track a audio true']);
  await until(() => h.sfu().some((m) => m.kind === 'offer'));
  assert.equal(sfus[1].pub.getTransceivers()[0].sender.track, local.getTracks()[0]);
  assert.deepEqual(h.sfu()[0], { kind: 'quality', peer: 'b', quality: 'high' });
});

test('through a Switchboard: sfu frames reach the room and its answers go out as sfu frames', async () => {
  FakePeerConnection.instances.length = 0;
  const srv = goodServer({
    peers: [{ peer: 'p0' }],
    onFrame(ws, f) {
      if (f.type !== 'join') return false;
      // The SFU's first offer comes even before the joined reply.
      ws.reply({ type: 'sfu', room: f.room, data: offer([['1', 'video', 'p0', 'cam']]).data });
      ws.reply({ type: 'joined', room: f.room, peers: [{ peer: 'p0' }], mode: 'sfu', id: f.id });
      return true;
    },
  });
  const sb = new Switchboard('ws://x/ws', {
    auth: { token: 't' }, WebSocket: srv.WebSocket, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream,
  });
  const room = await sb.join('big');
  assert.equal(room.mode, 'sfu');
  const [peer, track, stream] = await next(room, 'track');
  assert.deepEqual([peer, track.kind, stream.getTracks().length], ['p0', 'video', 1]);
  await until(() => srv.sockets[0].sent.some((f) => f.type === 'sfu'));
  const frame = srv.sockets[0].sent.find((f) => f.type === 'sfu');
  assert.equal(frame.room, 'big');
  assert.equal(typeof frame.id, 'number', 'a request: acked by the server');
  assert.equal(frame.data.kind, 'answer');
  sb.disconnect();
  assert.equal(FakePeerConnection.instances[0].signalingState, 'closed');
});

test('through a resumed session the SFU link carries on', async () => {
  FakePeerConnection.instances.length = 0;
  const srv = resumeServer({
    onFrame(ws, f, session) {
      if (f.type !== 'join') return false;
      srv.send(session, { type: 'joined', room: f.room, peers: [{ peer: 'p0' }], mode: 'sfu', id: f.id });
      return true;
    },
  });
  const sb = new Switchboard('ws://x/ws', {
    auth: { token: 't' }, reconnectionDelay: 1, reconnectionDelayMax: 5, WebSocket: srv.WebSocket,
    RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream,
  });
  const room = await sb.join('big');
  const s = srv.sessions[0];
  srv.sockets[0].serverClose(1006);
  srv.send(s, { type: 'sfu', room: 'big', data: offer([['1', 'audio', 'p0', 'mic']]).data }); // missed, replayed
  const [, info] = await next(sb, 'reconnect');
  assert.equal(info.resumed, true);
  await next(room, 'track');
  await until(() => s.received.some((f) => f.type === 'sfu' && f.data.kind === 'answer'));
  assert.equal(FakePeerConnection.instances.length, 1, 'the same sub PeerConnection');
  sb.disconnect();
});

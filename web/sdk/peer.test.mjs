import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHANNEL_LABEL, PeerLink, UNRELIABLE_LABEL, decodeData, encodeData } from './peer.js';
import { FakeIceTransport, FakeMediaStream, FakePeerConnection, FakeTrack, until } from './fakes.mjs';

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

test('only the impolite side opens the data channels', () => {
  const signals = [];
  const opts = { iceServers: [{ urls: 'stun:x' }], signal: (d) => signals.push(d), RTCPeerConnection: FakePeerConnection };
  const high = new PeerLink({ ...opts, selfId: 'b', peerId: 'a' });
  const low = new PeerLink({ ...opts, selfId: 'a', peerId: 'b' });
  assert.equal(high.polite, false);
  assert.equal(low.polite, true);
  assert.deepEqual(high.pc.channels.map((c) => c.label), [CHANNEL_LABEL, UNRELIABLE_LABEL]);
  assert.deepEqual(high.pc.channels.map((c) => c.options), [undefined, { ordered: false, maxRetransmits: 0 }]);
  assert.deepEqual(low.pc.channels, []);
  assert.deepEqual(high.pc.config, { iceServers: [{ urls: 'stun:x' }] });
  assert.equal(high.state, 'connecting');
  high.close();
  assert.equal(high.state, 'closed');
  assert.equal(high.pc.connectionState, 'closed');
  low.close();
});

test('an offer is answered, and the answer goes out as a signal', async () => {
  const signals = [];
  const link = new PeerLink({ selfId: 'a', peerId: 'b', signal: (d) => signals.push(d), RTCPeerConnection: FakePeerConnection });
  link.handleSignal({ description: { type: 'offer', sdp: 'v=0 offer' } });
  link.handleSignal({ candidate: { candidate: 'candidate:1', sdpMid: '0' } });
  await link.pc.settled();
  assert.deepEqual(link.pc.log, ['setRemoteDescription offer', 'setLocalDescription answer', 'addIceCandidate candidate:1']);
  assert.deepEqual(signals, [{ description: { type: 'answer', sdp: 'answer-sdp' } }]);
  link.close();
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
  link.close();
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

test('the unreliable channel carries sends with reliable: false', () => {
  const got = [];
  const link = new PeerLink({ selfId: 'b', peerId: 'a', signal: () => {}, onData: (d) => got.push(d), RTCPeerConnection: FakePeerConnection });
  const [reliable, unreliable] = link.pc.channels;
  reliable.readyState = 'open';
  reliable.onopen();
  assert.equal(link.state, 'connected');
  assert.equal(link.send('x', { reliable: false }), false, 'unreliable not open yet');
  unreliable.readyState = 'open';
  unreliable.onopen();
  assert.equal(link.send({ p: 1 }, { reliable: false }), true);
  assert.equal(link.send('r'), true);
  assert.deepEqual(unreliable.sent, ['{"p":1}']);
  assert.deepEqual(reliable.sent, ['"r"']);
  unreliable.onmessage({ data: '{"pos":3}' });
  assert.deepEqual(got, [{ pos: 3 }]);
  // The state follows the reliable channel only.
  unreliable.readyState = 'closed';
  unreliable.onclose();
  assert.equal(link.state, 'connected');
  link.close();
});

test('the polite side adopts both channels the other opens', () => {
  const link = new PeerLink({ selfId: 'a', peerId: 'b', signal: () => {}, RTCPeerConnection: FakePeerConnection });
  const reliable = new FakeChannelLike('switchboard');
  const unreliable = new FakeChannelLike('switchboard-unreliable');
  const other = new FakeChannelLike('app');
  for (const channel of [reliable, unreliable, other]) link.pc.ondatachannel({ channel });
  unreliable.readyState = 'open';
  unreliable.onopen();
  assert.equal(link.state, 'connecting', 'the unreliable channel alone does not connect');
  assert.equal(link.send(1, { reliable: false }), true);
  assert.equal(other.onmessage, undefined, 'foreign channels are left alone');
  link.close();
});

class FakeChannelLike {
  readyState = 'connecting';
  sent = [];
  constructor(label) {
    this.label = label;
  }
  send(d) {
    this.sent.push(d);
  }
  close() {
    this.readyState = 'closed';
  }
}

/**
 * Two links wired to each other through asynchronous signals, as two browsers
 * behind a server. ids: the impolite side's id sorts higher.
 */
function wire({ ids = ['b', 'a'], opts = {} } = {}) {
  const events = [];
  const errors = [];
  /** @type {{from: string, description: object}[]} every description sent, in order */
  const descriptions = [];
  /** @type {Record<string, PeerLink>} */
  const links = {};
  const make = (self, peer) =>
    new PeerLink({
      selfId: self,
      peerId: peer,
      signal: (data) => {
        if (data.description) descriptions.push({ from: self, description: data.description });
        setTimeout(() => links[peer] && links[peer].handleSignal(JSON.parse(JSON.stringify(data))), 1);
      },
      onTrack: (track, stream) => events.push(`${self} track ${track.kind} ${stream.getTracks().length}`),
      onTrackEnded: (track, stream) => events.push(`${self} ended ${track.kind} ${stream.getTracks().length}`),
      onError: (e) => errors.push(e),
      RTCPeerConnection: FakePeerConnection,
      MediaStream: FakeMediaStream,
      ...opts,
    });
  links[ids[0]] = make(ids[0], ids[1]);
  links[ids[1]] = make(ids[1], ids[0]);
  return { x: links[ids[0]], y: links[ids[1]], events, errors, descriptions };
}

/** Resolves once both links are stable and have stayed so for a while. */
async function quiet(...links) {
  let calm = 0;
  const end = Date.now() + 3000;
  while (calm < 5) {
    if (Date.now() > end) throw new Error(`never stable: ${links.map((l) => l.pc.signalingState)}`);
    await new Promise((r) => setTimeout(r, 4));
    calm = links.every((l) => l.pc.signalingState === 'stable') ? calm + 1 : 0;
  }
}

const cam = () => new FakeMediaStream([new FakeTrack('audio'), new FakeTrack('video')]);
const summary = (link) => link.pc.getTransceivers().map((t) => `${t.kind} ${t.currentDirection}`).join(', ');

test('publish sends the tracks; the other side gets them in one stream', async () => {
  const { x, y, events, errors } = wire();
  const stream = cam();
  await x.publish(stream);
  await quiet(x, y);
  assert.deepEqual(errors, []);
  assert.deepEqual(events, ['a track audio 1', 'a track video 2']);
  assert.deepEqual(y.remoteStream.getTracks().map((t) => t.kind), ['audio', 'video']);
  assert.equal(summary(x), 'audio sendonly, video sendonly');
  assert.equal(summary(y), 'audio recvonly, video recvonly');
  assert.deepEqual(x.pc.getSenders().map((s) => s.track), stream.getTracks());
  assert.deepEqual(x.pc.getSenders().map((s) => s.streams[0]), [stream, stream]);
  x.close();
  y.close();
});

test('both sides publishing at once share one audio and one video m-line', async () => {
  for (const ids of [['b', 'a'], ['a', 'b']]) {
    const { x, y, events, errors } = wire({ ids });
    // Before any negotiation, as in a room where everyone publishes on join.
    x.publish(cam());
    y.publish(cam());
    await quiet(x, y);
    assert.deepEqual(errors, []);
    const polite = x.polite ? x : y;
    // No glare on a new link: the polite side answers the first offer before
    // it offers its own media (Chromium may gather nothing after rolling back
    // a link's first offer).
    assert.deepEqual(polite.pc.log.slice(0, 3), ['setRemoteDescription offer', 'setLocalDescription answer', 'setLocalDescription offer'], 'the polite side waits for the first offer');
    assert.equal(summary(x), 'audio sendrecv, video sendrecv');
    assert.equal(summary(y), 'audio sendrecv, video sendrecv');
    assert.equal(x.remoteStream.getTracks().length, 2);
    assert.equal(y.remoteStream.getTracks().length, 2);
    assert.equal(events.length, 4);
    x.close();
    y.close();
  }
});

test('both sides publishing at once on a connected link converge', async () => {
  for (const ids of [['b', 'a'], ['a', 'b']]) {
    const { x, y, errors } = wire({ ids });
    x.publish(new FakeMediaStream([new FakeTrack('audio')]));
    await quiet(x, y);
    x.publish(cam());
    y.publish(cam());
    await quiet(x, y);
    assert.deepEqual(errors, []);
    assert.equal(summary(x), 'audio sendrecv, video sendrecv');
    assert.equal(summary(y), 'audio sendrecv, video sendrecv');
    x.close();
    y.close();
  }
});

test('a description delivered twice (a resent signal) is applied once', async () => {
  const { x, y, errors, descriptions } = wire();
  await x.publish(cam());
  await quiet(x, y);
  const sent = descriptions.length;
  const offer = descriptions.findLast((d) => d.description.type === 'offer');
  const answer = descriptions.findLast((d) => d.description.type === 'answer');
  const offerer = offer.from === 'b' ? x : y;
  const answerer = offerer === x ? y : x;
  answerer.handleSignal({ description: offer.description });
  offerer.handleSignal({ description: answer.description });
  await quiet(x, y);
  assert.deepEqual(errors, []);
  assert.equal(descriptions.length, sent, 'no new answer for a repeated offer');
  x.close();
  y.close();
});

test('unpublish ends the remote tracks; republishing reuses the transceivers', async () => {
  const { x, y, events, errors } = wire();
  await x.publish(cam());
  await y.publish(cam());
  await quiet(x, y);
  assert.equal(summary(x), 'audio sendrecv, video sendrecv');
  const remote = y.remoteStream;
  const tracks = remote.getTracks();
  events.length = 0;

  await x.publish(null);
  await quiet(x, y);
  assert.deepEqual(events, ['a ended audio 1', 'a ended video 0']);
  assert.equal(summary(x), 'audio recvonly, video recvonly');
  assert.equal(x.remoteStream.getTracks().length, 2, 'still receiving');
  assert.deepEqual(x.pc.getSenders().map((s) => s.track), [null, null]);

  events.length = 0;
  const next = cam();
  await x.publish(next);
  await quiet(x, y);
  assert.deepEqual(events, ['a track audio 1', 'a track video 2']);
  assert.equal(y.remoteStream, remote, 'the same stream for the life of the link');
  assert.deepEqual(remote.getTracks(), tracks, 'the same receiver tracks');
  assert.deepEqual(x.pc.getSenders().map((s) => s.track), next.getTracks());
  assert.equal(x.pc.getTransceivers().length, 2, 'no new m-lines');
  assert.equal(y.pc.getTransceivers().length, 2);

  // Another stream while publishing: replaceTrack only, nothing to negotiate.
  events.length = 0;
  const log = x.pc.log.length;
  const third = cam();
  await x.publish(third);
  await quiet(x, y);
  assert.deepEqual(x.pc.getSenders().map((s) => s.track), third.getTracks());
  assert.deepEqual(events, []);
  assert.equal(x.pc.getTransceivers().length, 2);
  assert.deepEqual(x.pc.log.slice(log), [], 'no renegotiation');

  // Audio only: the video sender goes idle, and comes back later.
  const audio = new FakeMediaStream([new FakeTrack('audio')]);
  await x.publish(audio);
  await quiet(x, y);
  assert.deepEqual(events, ['a ended video 1']);
  assert.equal(summary(x), 'audio sendrecv, video recvonly');
  assert.deepEqual(errors, []);

  events.length = 0;
  x.close();
  assert.deepEqual(events, ['b ended audio 1', 'b ended video 0']);
  assert.equal(x.state, 'closed');
  y.close();
});

test('ICE failure restarts ICE through a new offer, with backoff and a bound', async () => {
  const { x, y, errors } = wire({ opts: { iceRestart: { minDelay: 1, maxDelay: 4, jitter: 0, maxAttempts: 2, timeout: 30 } } });
  await x.publish(cam());
  await quiet(x, y);
  const pc = x.pc;
  pc.setConnectionState('connected');
  pc.setConnectionState('failed');
  assert.equal(x.state, 'connecting', 'a restart is due: not failed for good');
  pc.setConnectionState('failed'); // repeated: still one restart
  await until(() => pc.restartIceCalls === 1);
  await quiet(x, y);
  assert.equal(pc.iceGeneration, 1, 'the restart went out in an offer and was answered');
  assert.equal(x.pc.signalingState, 'stable');
  // Reconnected: the count starts over.
  pc.setConnectionState('connecting');
  pc.setConnectionState('connected');
  pc.setConnectionState('failed');
  await until(() => pc.restartIceCalls === 2);
  assert.equal(x.state, 'connecting', 'while the attempts last');
  // This time nothing reconnects: the attempt times out, one more, then it gives up.
  await until(() => pc.restartIceCalls === 3);
  assert.equal(x.state, 'connecting', 'the last attempt is under way');
  await until(() => x.state === 'failed');
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(pc.restartIceCalls, 3);
  assert.equal(x.state, 'failed');
  assert.deepEqual(errors, []);
  x.close();
  y.close();
});

test('a link that stays disconnected restarts ICE; one that comes back by itself does not', async () => {
  const link = new PeerLink({
    selfId: 'b', peerId: 'a', signal: () => {},
    iceRestart: { minDelay: 1, maxDelay: 1, jitter: 0, disconnectTimeout: 20 },
    RTCPeerConnection: FakePeerConnection,
  });
  const pc = link.pc;
  pc.setConnectionState('connected');
  pc.setConnectionState('disconnected');
  pc.setConnectionState('connected'); // a blip
  await new Promise((r) => setTimeout(r, 40));
  assert.equal(pc.restartIceCalls, 0, 'a blip is no failure');
  pc.setConnectionState('disconnected');
  await until(() => pc.restartIceCalls === 1);
  link.close();
});

test('"failed" is reported once the last restart timed out, "connecting" before', async () => {
  const states = [];
  const link = new PeerLink({
    selfId: 'b', peerId: 'a', signal: () => {}, onState: (s) => states.push(s),
    iceRestart: { minDelay: 20, maxDelay: 20, jitter: 0, maxAttempts: 1, timeout: 20 },
    RTCPeerConnection: FakePeerConnection,
  });
  const ch = link.pc.channels[0];
  ch.readyState = 'open';
  ch.onopen();
  link.pc.setConnectionState('connected');
  link.pc.setConnectionState('failed');
  assert.equal(link.state, 'connecting', 'backing off before the restart');
  await until(() => link.pc.restartIceCalls === 1);
  assert.equal(link.state, 'connecting', 'the restart is under way');
  // The connection stays failed: the attempt's timeout alone flips the state.
  await until(() => link.state === 'failed');
  assert.deepEqual(states, ['connected', 'connecting', 'failed']);
  link.close();
  assert.deepEqual(states, ['connected', 'connecting', 'failed', 'closed']);
});

test('without restarts a failure is final at once', () => {
  const link = new PeerLink({ selfId: 'b', peerId: 'a', signal: () => {}, iceRestart: { maxAttempts: 0 }, RTCPeerConnection: FakePeerConnection });
  assert.equal(link.state, 'connecting');
  link.pc.setConnectionState('failed');
  assert.equal(link.state, 'failed');
  link.close();
});

test('a link that never connects restarts after connectTimeout: a lost offer goes out again', async () => {
  const signals = [];
  const states = [];
  const link = new PeerLink({
    selfId: 'b', peerId: 'a', signal: (d) => signals.push(d), onState: (s) => states.push(s),
    iceRestart: { minDelay: 1, maxDelay: 1, jitter: 0, maxAttempts: 1, timeout: 30, connectTimeout: 30 },
    RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream,
  });
  await link.publish(cam());
  await until(() => signals.length === 1); // the offer, lost on the way
  assert.equal(link.pc.signalingState, 'have-local-offer');
  await until(() => link.pc.restartIceCalls === 1);
  await until(() => signals.length === 2);
  assert.equal(signals[1].description.type, 'offer');
  assert.match(signals[1].description.sdp, /"ice":1/, 'offered again, with the restart');
  assert.equal(link.state, 'connecting');
  // Still nothing: the one attempt times out and the link fails for good.
  await until(() => link.state === 'failed');
  assert.deepEqual(states, ['failed']);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(link.pc.restartIceCalls, 1, 'bounded by maxAttempts');
  link.close();
});

test('the connect watchdog recovers a lost answer, the impolite side first', async () => {
  let dropped = 0;
  const iceRestart = { minDelay: 1, maxDelay: 1, jitter: 0, connectTimeout: 200 };
  const { x, y, errors } = wire({ opts: { iceRestart } });
  // The polite side's first answer never arrives.
  const apply = x.handleSignal.bind(x);
  x.handleSignal = (data) => {
    if (data.description?.type === 'answer' && dropped === 0) {
      dropped++;
      return;
    }
    apply(data);
  };
  await x.publish(cam());
  await until(() => dropped === 1);
  assert.equal(x.pc.signalingState, 'have-local-offer');
  await until(() => x.pc.restartIceCalls === 1);
  assert.equal(y.pc.restartIceCalls, 0, 'the polite side waits longer');
  await quiet(x, y);
  assert.equal(x.pc.iceGeneration, 1, 'the new offer was answered');
  // Connected: the polite side's watchdog stands down.
  x.pc.setConnectionState('connected');
  y.pc.setConnectionState('connected');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(y.pc.restartIceCalls, 0);
  assert.equal(x.pc.restartIceCalls, 1);
  assert.deepEqual(errors, []);
  x.close();
  y.close();
});

test('a restart waits for signaling and goes out on resume', async () => {
  let up = false;
  const { x, y } = wire({ opts: { canSignal: () => up, iceRestart: { minDelay: 1, maxDelay: 1, jitter: 0 } } });
  x.pc.setConnectionState('connected');
  x.pc.setConnectionState('failed');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(x.pc.restartIceCalls, 0);
  up = true;
  x.resume();
  assert.equal(x.pc.restartIceCalls, 1);
  x.resume();
  assert.equal(x.pc.restartIceCalls, 1, 'once');
  await quiet(x, y);
  assert.equal(x.pc.iceGeneration, 1);
  x.close();
  y.close();
});

test('a restart resends an offer that was never answered', async () => {
  const signals = [];
  const link = new PeerLink({
    selfId: 'b', peerId: 'a', signal: (d) => signals.push(d),
    iceRestart: { minDelay: 1, maxDelay: 1, jitter: 0 }, RTCPeerConnection: FakePeerConnection, MediaStream: FakeMediaStream,
  });
  await link.publish(cam());
  await until(() => signals.length === 1); // the offer, whose answer is lost
  link.pc.setConnectionState('failed');
  await until(() => signals.length === 2);
  assert.match(signals[1].description.sdp, /"ice":1/);
  link.close();
});

const pairStats = (localType) => [
  { id: 'T', type: 'transport', selectedCandidatePairId: 'P' },
  { id: 'P', type: 'candidate-pair', localCandidateId: 'L', remoteCandidateId: 'R' },
  { id: 'L', type: 'local-candidate', candidateType: localType, protocol: 'udp' },
  { id: 'R', type: 'remote-candidate', candidateType: 'host', protocol: 'udp' },
];

test('connectionType follows the selected pair: at connect, then on pair changes', async () => {
  const types = [];
  const link = new PeerLink({ selfId: 'a', peerId: 'b', signal: () => {}, onConnectionType: (t) => types.push(t), RTCPeerConnection: FakePeerConnection });
  const ice = new FakeIceTransport();
  link.pc.sctp = { transport: { iceTransport: ice } };
  link.pc.stats = pairStats('host');
  assert.equal(link.connectionType, null);
  link.pc.setConnectionState('connected');
  await until(() => link.connectionType === 'direct');
  link.pc.stats = pairStats('relay');
  ice.changePair();
  await until(() => link.connectionType === 'relayed');
  link.pc.stats = []; // no pair for a moment: the last type stays
  ice.changePair();
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(types, ['direct', 'relayed']);
  link.close();
  link.pc.stats = pairStats('host');
  ice.changePair();
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(types, ['direct', 'relayed'], 'no reads after close');
});

test('without pair events, connectionType is polled a few times after connecting', async () => {
  const types = [];
  const link = new PeerLink({ selfId: 'a', peerId: 'b', signal: () => {}, pairPolls: [5, 15], onConnectionType: (t) => types.push(t), RTCPeerConnection: FakePeerConnection });
  link.pc.setConnectionState('connected');
  await new Promise((r) => setTimeout(r, 2));
  assert.deepEqual(types, [], 'no pair yet');
  link.pc.stats = pairStats('relay');
  await until(() => types.length === 1);
  assert.deepEqual(types, ['relayed']);
  link.close();
});

test('getStats computes bitrates from the previous call', async () => {
  const link = new PeerLink({ selfId: 'a', peerId: 'b', signal: () => {}, RTCPeerConnection: FakePeerConnection });
  const report = (t, bytes) => [...pairStats('host'), { id: 'in', type: 'inbound-rtp', kind: 'video', timestamp: t, bytesReceived: bytes, framesDecoded: 1, framesReceived: 1 }];
  link.pc.stats = report(1000, 0);
  const first = await link.getStats();
  assert.equal(first?.bitrateIn, null);
  assert.equal(first?.connectionType, 'direct');
  assert.equal(link.connectionType, 'direct');
  link.pc.stats = report(2000, 1000);
  assert.equal((await link.getStats())?.bitrateIn, 8000);
  link.close();
  assert.equal(await link.getStats(), null);
});

test('rtcConfig shapes the connection; its own ICE servers win over refreshed ones', () => {
  const base = { selfId: 'a', peerId: 'b', signal: () => {}, RTCPeerConnection: FakePeerConnection };
  const relay = new PeerLink({ ...base, iceServers: [{ urls: 'turn:s' }], rtcConfig: { iceTransportPolicy: 'relay' } });
  assert.deepEqual(relay.pc.config, { iceTransportPolicy: 'relay', iceServers: [{ urls: 'turn:s' }] });
  relay.setIceServers([{ urls: 'turn:fresh' }]);
  assert.deepEqual(relay.pc.config, { iceTransportPolicy: 'relay', iceServers: [{ urls: 'turn:fresh' }] });
  const own = new PeerLink({ ...base, iceServers: [{ urls: 'turn:s' }], rtcConfig: { iceServers: [{ urls: 'stun:own' }] } });
  assert.deepEqual(own.pc.config, { iceServers: [{ urls: 'stun:own' }] });
  own.setIceServers([{ urls: 'turn:fresh' }]);
  assert.deepEqual(own.pc.config, { iceServers: [{ urls: 'stun:own' }] });
  relay.close();
  own.close();
});

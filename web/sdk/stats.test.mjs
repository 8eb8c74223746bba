import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bitrate, connectionTypeOf, selectedPair, summarizeStats } from './stats.js';

/** A Chromium-like report: a transport naming its selected pair. */
function chromeReport({ localType = 'host', remoteType = 'srflx', t = 1000, inV = 0, inA = 0, out = 0 } = {}) {
  return new Map(
    [
      { id: 'T01', type: 'transport', timestamp: t, bytesSent: 5000, bytesReceived: 7000, selectedCandidatePairId: 'CP2' },
      { id: 'CP1', type: 'candidate-pair', timestamp: t, localCandidateId: 'L1', remoteCandidateId: 'R1', state: 'failed' },
      { id: 'CP2', type: 'candidate-pair', timestamp: t, localCandidateId: 'L2', remoteCandidateId: 'R2', state: 'succeeded', nominated: true, currentRoundTripTime: 0.012 },
      { id: 'L1', type: 'local-candidate', candidateType: 'host', protocol: 'udp', address: '10.0.0.1', port: 1 },
      { id: 'L2', type: 'local-candidate', candidateType: localType, protocol: 'udp', relayProtocol: localType === 'relay' ? 'tcp' : undefined, address: '192.0.2.1', port: 5000 },
      { id: 'R1', type: 'remote-candidate', candidateType: 'host', protocol: 'udp', address: '10.0.0.2', port: 2 },
      { id: 'R2', type: 'remote-candidate', candidateType: remoteType, protocol: 'udp', ip: '198.51.100.7', port: 6000 },
      { id: 'IV', type: 'inbound-rtp', kind: 'video', timestamp: t, bytesReceived: inV, framesDecoded: 30, framesReceived: 31, frameWidth: 640, frameHeight: 480, framesPerSecond: 30 },
      { id: 'IA', type: 'inbound-rtp', kind: 'audio', timestamp: t, bytesReceived: inA, packetsReceived: 50, audioLevel: 0.2 },
      { id: 'OV', type: 'outbound-rtp', kind: 'video', timestamp: t, bytesSent: out },
    ].map((s) => [s.id, s]),
  );
}

test('the selected pair is the one the transport names', () => {
  const sel = selectedPair(chromeReport());
  assert.equal(sel?.pair.id, 'CP2');
  assert.equal(sel?.local.id, 'L2');
  assert.equal(sel?.remote.id, 'R2');
  assert.equal(connectionTypeOf(chromeReport()), 'direct');
  assert.equal(connectionTypeOf(chromeReport({ localType: 'relay' })), 'relayed');
  assert.equal(connectionTypeOf(chromeReport({ remoteType: 'relay' })), 'relayed');
  assert.equal(connectionTypeOf(chromeReport({ localType: 'prflx', remoteType: 'prflx' })), 'direct');
});

test('without a transport, the pair flagged selected counts (Firefox)', () => {
  const report = [
    { id: 'a', type: 'candidate-pair', localCandidateId: 'l', remoteCandidateId: 'r', selected: false },
    { id: 'b', type: 'candidate-pair', localCandidateId: 'l2', remoteCandidateId: 'r', selected: true },
    { id: 'l', type: 'local-candidate', candidateType: 'host' },
    { id: 'l2', type: 'local-candidate', candidateType: 'relay' },
    { id: 'r', type: 'remote-candidate', candidateType: 'host' },
  ];
  assert.equal(selectedPair(report)?.pair.id, 'b');
  assert.equal(connectionTypeOf(report), 'relayed');
});

test('no selected pair, no connection type', () => {
  assert.equal(connectionTypeOf(new Map()), null);
  assert.equal(connectionTypeOf(null), null);
  assert.equal(connectionTypeOf([{ id: 'T', type: 'transport' }, { id: 'p', type: 'candidate-pair', state: 'in-progress' }]), null);
  assert.equal(connectionTypeOf([{ id: 'T', type: 'transport', selectedCandidatePairId: 'gone' }]), null);
});

test('the summary reads the pair, totals and inbound media; bitrates need a previous call', () => {
  const first = summarizeStats(chromeReport({ t: 1000, inV: 1000, inA: 500, out: 2000 }), null);
  assert.deepEqual(first.stats, {
    connectionType: 'direct',
    local: { type: 'host', protocol: 'udp', address: '192.0.2.1', port: 5000 },
    remote: { type: 'srflx', protocol: 'udp', address: '198.51.100.7', port: 6000 },
    rtt: 12,
    bytesSent: 5000,
    bytesReceived: 7000,
    bitrateIn: null,
    bitrateOut: null,
    video: { framesDecoded: 30, framesReceived: 31, frameWidth: 640, frameHeight: 480, framesPerSecond: 30 },
    audio: { packetsReceived: 50, audioLevel: 0.2 },
    timestamp: 1000,
  });
  // Two seconds later: 3000 + 1500 more bytes in, 10000 more out.
  const second = summarizeStats(chromeReport({ t: 3000, inV: 4000, inA: 2000, out: 12000, localType: 'relay' }), first.sample);
  assert.equal(second.stats.bitrateIn, ((3000 + 1500) * 8) / 2);
  assert.equal(second.stats.bitrateOut, (10000 * 8) / 2);
  assert.equal(second.stats.connectionType, 'relayed');
  assert.deepEqual(second.stats.local, { type: 'relay', protocol: 'udp', relayProtocol: 'tcp', address: '192.0.2.1', port: 5000 });
});

test('a summary without media or pair', () => {
  const { stats } = summarizeStats([{ id: 'T', type: 'transport', timestamp: 5, bytesSent: 1, bytesReceived: 2 }], null);
  assert.deepEqual(stats, {
    connectionType: null, local: null, remote: null, rtt: null, bytesSent: 1, bytesReceived: 2,
    bitrateIn: null, bitrateOut: null, video: null, audio: null, timestamp: 5,
  });
});

test('bitrates count what each stream gained', () => {
  const before = new Map([['a', 100], ['gone', 900]]);
  const now = new Map([['a', 300], ['new', 50]]);
  assert.equal(bitrate(before, now, 1), (200 + 50) * 8);
  assert.equal(bitrate(undefined, now, 1), null);
  assert.equal(bitrate(before, now, 0), null);
  assert.equal(bitrate(new Map([['a', 500]]), new Map([['a', 100]]), 1), 0, 'a counter reset is no negative rate');
});

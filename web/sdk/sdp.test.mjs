import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mediaSections } from './sdp.js';

test('media sections: kind, port, mid, direction, msid (a=msid or the older ssrc form)', () => {
  const sdp = [
    'v=0', 'o=- 1 2 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1 2 3',
    'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=mid:0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:1', 'a=sendonly', 'a=msid:p2 p2:mic',
    'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:2', 'a=ssrc:1234 cname:x', 'a=ssrc:1234 msid:p3 p3:cam', 'a=inactive',
    'm=video 0 UDP/TLS/RTP/SAVPF 96', 'a=mid:3', 'a=recvonly',
    '',
  ].join('\r\n');
  assert.deepEqual(mediaSections(sdp), [
    { kind: 'application', port: 9, mid: '0', direction: 'sendrecv', stream: null, track: null },
    { kind: 'audio', port: 9, mid: '1', direction: 'sendonly', stream: 'p2', track: 'p2:mic' },
    { kind: 'video', port: 9, mid: '2', direction: 'inactive', stream: 'p3', track: 'p3:cam' },
    { kind: 'video', port: 0, mid: '3', direction: 'recvonly', stream: null, track: null },
  ]);
  assert.deepEqual(mediaSections(''), []);
  // A session-level direction is the default of every section.
  assert.equal(mediaSections('v=0\na=sendonly\nm=audio 9 RTP 0\na=mid:a\n')[0].direction, 'sendonly');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SizeReporter, SizeWatch } from './sizes.js';
import { FakeResizeObserver } from './fakes.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('sizes go out at once, then at most once per interval per track, the latest one, never the same twice', async () => {
  const sent = [];
  const r = new SizeReporter((track, w, h) => sent.push(`${track} ${w}x${h}`), 40);
  r.set('a', 320, 180);
  r.set('a', 640, 360);
  r.set('a', 1280, 720);
  r.set('b', 10, 10);
  assert.deepEqual(sent, ['a 320x180', 'b 10x10']);
  await sleep(60);
  assert.deepEqual(sent, ['a 320x180', 'b 10x10', 'a 1280x720']);
  r.set('b', 10, 10);
  await sleep(60);
  assert.equal(sent.length, 3, 'the same size is not sent again');
  r.set('a', 0, 0);
  r.forget('a');
  r.set('b', 0, 0);
  r.close();
  await sleep(60);
  assert.deepEqual(sent.slice(3), ['a 0x0', 'b 0x0']);
});

test('a peer is shown at the size of its largest element; hidden, removed or unobserved elements count 0x0', () => {
  const got = [];
  const w = new SizeWatch((p, width, height) => got.push(`${p} ${width}x${height}`), FakeResizeObserver);
  const v1 = { clientWidth: 320.4, clientHeight: 180, isConnected: true };
  const v2 = { clientWidth: 0, clientHeight: 0, isConnected: true };
  const stop1 = w.observe('p1', v1);
  w.observe('p1', v2);
  const ro = FakeResizeObserver.instances.at(-1);
  ro.resize(v2, 640, 360);
  ro.resize(v1, 0, 0); // display: none
  assert.deepEqual(got, ['p1 320x180', 'p1 320x180', 'p1 640x360', 'p1 640x360']);
  v2.isConnected = false; // removed from the page
  ro.resize(v2, 640, 360);
  assert.equal(got.at(-1), 'p1 0x0');
  stop1();
  w.unobserve(v2);
  assert.deepEqual([...w.sizes()], []);
  assert.equal(got.at(-1), 'p1 0x0');
  // An element moved to another peer: both are told.
  w.observe('p2', v1);
  w.observe('p3', v1);
  assert.deepEqual(got.slice(-2), ['p2 0x0', 'p3 320x180']);
  w.close();
  assert.equal(ro.observed.size, 0);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IceRestarts } from './restart.js';

const noJitter = { jitter: 0, minDelay: 100, maxDelay: 300 };

test('restarts back off and stop after maxAttempts', () => {
  const r = new IceRestarts({ ...noJitter, maxAttempts: 3 });
  assert.equal(r.failed(), 100);
  assert.equal(r.state, 'scheduled');
  assert.equal(r.failed(), null, 'one restart at a time');
  assert.equal(r.start(), true);
  assert.equal(r.start(), false);
  assert.equal(r.failed(), 200, 'the running attempt failed');
  r.start();
  assert.equal(r.failed(), 300);
  r.start();
  assert.equal(r.exhausted, false);
  assert.equal(r.failed(), null);
  assert.equal(r.exhausted, true);
  assert.equal(r.attempts, 3);
  assert.equal(r.failed(), null, 'stays failed');
});

test('a connection resets the count and the delays', () => {
  const r = new IceRestarts({ ...noJitter, maxAttempts: 2 });
  r.failed();
  r.start();
  r.failed();
  r.start();
  r.connected();
  assert.equal(r.state, 'idle');
  assert.equal(r.attempts, 0);
  assert.equal(r.failed(), 100);
});

test('delays are jittered within bounds', () => {
  const r = new IceRestarts({ minDelay: 1000, maxDelay: 8000, jitter: 0.5, random: () => 0.99, maxAttempts: 10 });
  const delays = [];
  for (let i = 0; i < 5; i++) {
    delays.push(r.failed());
    r.start();
  }
  for (const d of delays) assert.ok(d !== null && d >= 0 && d <= 8000, `${d}`);
  assert.equal(delays.at(-1), 8000);
});

test('exhausted only once every attempt failed; with none allowed, at the first failure', () => {
  const r = new IceRestarts({ ...noJitter, maxAttempts: 1 });
  assert.equal(r.exhausted, false);
  r.failed();
  assert.equal(r.exhausted, false, 'scheduled');
  r.start();
  assert.equal(r.exhausted, false, 'running');
  assert.equal(r.failed(), null);
  assert.equal(r.exhausted, true);
  r.connected();
  assert.equal(r.exhausted, false);
  const none = new IceRestarts({ maxAttempts: 0 });
  assert.equal(none.failed(), null);
  assert.equal(none.exhausted, true);
  assert.equal(new IceRestarts().connectTimeout, 20000);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from './backoff.js';

test('without jitter the delays double up to the maximum', () => {
  const b = new Backoff({ min: 100, max: 1000, jitter: 0 });
  const got = Array.from({ length: 7 }, () => b.duration());
  assert.deepEqual(got, [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(b.attempts, 7);
});

test('reset starts from the minimum again', () => {
  const b = new Backoff({ min: 100, max: 1000, jitter: 0 });
  b.duration();
  b.duration();
  b.reset();
  assert.equal(b.attempts, 0);
  assert.equal(b.duration(), 100);
});

test('jitter stays within the randomization factor and the maximum', () => {
  const jitter = 0.5;
  for (let trial = 0; trial < 200; trial++) {
    const b = new Backoff({ min: 1000, max: 5000, jitter });
    for (let n = 0; n < 12; n++) {
      const base = 1000 * 2 ** n;
      const d = b.duration();
      assert.ok(Number.isInteger(d), `delay ${d} is not whole milliseconds`);
      assert.ok(d <= 5000, `attempt ${n}: ${d} over the maximum`);
      assert.ok(d >= Math.floor(base * (1 - jitter)) || d === 5000, `attempt ${n}: ${d} below ${base * (1 - jitter)}`);
      assert.ok(d <= Math.ceil(base * (1 + jitter)), `attempt ${n}: ${d} above ${base * (1 + jitter)}`);
    }
  }
});

test('jitter moves the delay both ways, as socket.io-client does', () => {
  // rand 0.25: digit 2 is even, so the delay shrinks by 0.25*0.5 of itself.
  assert.equal(new Backoff({ min: 1000, max: 5000, jitter: 0.5, random: () => 0.25 }).duration(), 875);
  // rand 0.15: digit 1 is odd, so it grows.
  assert.equal(new Backoff({ min: 1000, max: 5000, jitter: 0.5, random: () => 0.15 }).duration(), 1075);
});

test('many attempts never overflow', () => {
  const b = new Backoff({ min: 1000, max: 5000, jitter: 0.5 });
  b.attempts = 5000;
  for (let i = 0; i < 100; i++) {
    const d = b.duration();
    assert.ok(d >= 0 && d <= 5000, `got ${d}`);
  }
});

test('max below min is raised to min', () => {
  const b = new Backoff({ min: 2000, max: 100, jitter: 0 });
  assert.equal(b.duration(), 2000);
});

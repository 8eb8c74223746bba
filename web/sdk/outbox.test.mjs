import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignalOutbox, retryable } from './outbox.js';
import { SwitchboardError } from './protocol.js';

test('only rate limits and missing replies are worth a retry', () => {
  assert.equal(retryable(new SwitchboardError('rate_limited')), true);
  assert.equal(retryable(new SwitchboardError('timeout')), true);
  for (const code of ['not_found', 'disconnected', 'forbidden', 'bad_request', 'frame_too_big']) {
    assert.equal(retryable(new SwitchboardError(code)), false, code);
  }
  assert.equal(retryable(new Error('x')), false);
  assert.equal(retryable(undefined), false);
});

test('signals are pipelined; a refused one goes again with everything after it, in order', async () => {
  const sent = [];
  const errors = [];
  let fail = 2;
  const box = new SignalOutbox(
    async (d) => {
      sent.push(d);
      if (d === 'offer' && fail-- > 0) throw new SwitchboardError('timeout');
    },
    (e) => errors.push(e),
    { minDelay: 2, maxDelay: 4, jitter: 0 },
  );
  box.push('offer');
  box.push('c1');
  box.push('c2');
  assert.deepEqual(sent, ['offer', 'c1', 'c2'], 'no round trip between them');
  await new Promise((r) => setTimeout(r, 40));
  // Each refusal of the offer sends it again, then its candidates after it.
  assert.deepEqual(sent, ['offer', 'c1', 'c2', 'offer', 'c1', 'c2', 'offer', 'c1', 'c2']);
  assert.deepEqual(errors, []);
});

test('at most `window` signals are in flight', async () => {
  const sent = [];
  /** @type {(() => void)[]} */
  const replies = [];
  const box = new SignalOutbox(
    (d) => {
      sent.push(d);
      return new Promise((r) => replies.push(() => r(undefined)));
    },
    () => assert.fail('no error'),
    { window: 2 },
  );
  for (const d of [1, 2, 3, 4]) box.push(d);
  assert.deepEqual(sent, [1, 2]);
  replies.shift()();
  await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(sent, [1, 2, 3]);
  while (replies.length) {
    replies.shift()();
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.deepEqual(sent, [1, 2, 3, 4]);
});

test('close ends a wait for a retry and drops the rest', async () => {
  const sent = [];
  const box = new SignalOutbox(
    async (d) => {
      sent.push(d);
      throw new SwitchboardError('rate_limited');
    },
    () => assert.fail('no error after close'),
    { minDelay: 1000, maxDelay: 1000, jitter: 0 },
  );
  box.push(1);
  box.push(2);
  await new Promise((r) => setTimeout(r, 5));
  box.close();
  box.push(3);
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(sent, [1, 2]);
});

test('held, nothing new goes out; released, what waited goes in order, and replies to what was in flight count', async () => {
  const sent = [];
  /** @type {Map<unknown, () => void>} */
  const replies = new Map();
  const box = new SignalOutbox(
    (d) => {
      sent.push(d);
      return new Promise((r) => replies.set(d, () => r(undefined)));
    },
    () => assert.fail('no error'),
    { window: 2 },
  );
  box.push('answer');
  box.push('c1');
  box.push('c2'); // beyond the window
  assert.deepEqual(sent, ['answer', 'c1']);
  box.hold(); // the connection dropped
  box.push('c3');
  replies.get('answer')(); // its reply came in the replay
  await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(sent, ['answer', 'c1'], 'nothing new while held');
  box.release();
  assert.deepEqual(sent, ['answer', 'c1', 'c2']);
  replies.get('c1')();
  await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(sent, ['answer', 'c1', 'c2', 'c3']);
  box.release(); // twice is harmless
  assert.equal(sent.length, 4);
});

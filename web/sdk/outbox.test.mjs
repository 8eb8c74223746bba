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

test('signals go one at a time, in order, a retried one before the next', async () => {
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
  assert.deepEqual(sent, ['offer'], 'one in flight');
  await new Promise((r) => setTimeout(r, 40));
  assert.deepEqual(sent, ['offer', 'offer', 'offer', 'c1', 'c2']);
  assert.deepEqual(errors, []);
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
  assert.deepEqual(sent, [1]);
});

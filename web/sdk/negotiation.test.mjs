import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPolite, onDescription, opensChannel } from './negotiation.js';

test('exactly one side of a pair is polite', () => {
  const pairs = [['a', 'b'], ['p1', 'p2'], ['10', '9'], ['Zed', 'alpha'], ['x', 'xy'], ['é', 'z']];
  for (const [a, b] of pairs) {
    assert.notEqual(isPolite(a, b), isPolite(b, a), `${a}/${b}`);
    assert.notEqual(opensChannel(a, b), opensChannel(b, a), `${a}/${b}`);
    assert.equal(opensChannel(a, b), !isPolite(a, b));
  }
});

test('the lower id is polite, by code units and not by locale', () => {
  assert.equal(isPolite('a', 'b'), true);
  assert.equal(isPolite('b', 'a'), false);
  assert.equal(isPolite('10', '9'), true); // strings, not numbers
  assert.equal(isPolite('Zed', 'alpha'), true); // upper case sorts first
});

test('a peer cannot pair with itself', () => {
  assert.throws(() => isPolite('a', 'a'));
});

const stable = { polite: false, makingOffer: false, signalingState: 'stable', settingRemoteAnswer: false };

test('an offer in a stable state is taken', () => {
  assert.deepEqual(onDescription({ ...stable, type: 'offer' }), { collision: false, ignore: false });
  assert.deepEqual(onDescription({ ...stable, polite: true, type: 'offer' }), { collision: false, ignore: false });
});

test('colliding offers: the impolite side ignores, the polite side rolls back', () => {
  for (const s of [{ makingOffer: true }, { signalingState: 'have-local-offer' }]) {
    assert.deepEqual(onDescription({ ...stable, ...s, type: 'offer' }), { collision: true, ignore: true });
    assert.deepEqual(onDescription({ ...stable, ...s, polite: true, type: 'offer' }), { collision: true, ignore: false });
  }
});

test('an offer while an answer is being applied is no collision', () => {
  const s = { ...stable, signalingState: 'have-local-offer', settingRemoteAnswer: true, type: 'offer' };
  assert.deepEqual(onDescription(s), { collision: false, ignore: false });
});

test('answers are never ignored', () => {
  const s = { ...stable, signalingState: 'have-local-offer', makingOffer: true, type: 'answer' };
  assert.deepEqual(onDescription(s), { collision: false, ignore: false });
});

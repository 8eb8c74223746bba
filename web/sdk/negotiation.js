// The pure decisions of the W3C "perfect negotiation" pattern
// (https://w3c.github.io/webrtc-pc/#perfect-negotiation-example), kept apart
// from RTCPeerConnection so they can be tested under Node.

/**
 * Whether this side is the polite peer of a pair. The peer whose
 * server-assigned id sorts lower (by UTF-16 code units, the same on every
 * browser and locale) is polite: it gives way when both sides offer at once.
 * @param {string} selfId
 * @param {string} peerId
 */
export function isPolite(selfId, peerId) {
  if (selfId === peerId) throw new Error('negotiation: a peer cannot connect to itself');
  return selfId < peerId;
}

/**
 * Whether this side opens the pair's data channel. Only one side does, the
 * impolite one, so the first negotiation of a pair never collides and both
 * sides agree on the channel without a round of their own.
 * @param {string} selfId
 * @param {string} peerId
 */
export function opensChannel(selfId, peerId) {
  return !isPolite(selfId, peerId);
}

/**
 * @typedef {object} DescriptionState
 * @property {'offer'|'answer'|'pranswer'|'rollback'} type type of the incoming description
 * @property {boolean} polite
 * @property {boolean} makingOffer an offer of ours is being made right now
 * @property {RTCSignalingState|string} signalingState
 * @property {boolean} settingRemoteAnswer an answer is being applied right now
 */

/**
 * What to do with an incoming description.
 * @param {DescriptionState} s
 * @returns {{collision: boolean, ignore: boolean}} collision: both sides
 *   offered; ignore: drop the offer (the impolite side in a collision).
 */
export function onDescription({ type, polite, makingOffer, signalingState, settingRemoteAnswer }) {
  const readyForOffer = !makingOffer && (signalingState === 'stable' || settingRemoteAnswer);
  const collision = type === 'offer' && !readyForOffer;
  return { collision, ignore: collision && !polite };
}

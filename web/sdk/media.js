// The pure decisions about media on one link: which transceiver carries
// which published track, and how a transceiver's direction changes when it
// starts or stops sending. Kept apart from RTCPeerConnection so they can be
// tested under Node.

/**
 * @typedef {'sendrecv'|'sendonly'|'recvonly'|'inactive'|'stopped'} Direction
 */

/**
 * Whether a direction includes sending.
 * @param {Direction|string|null|undefined} d
 */
export function hasSend(d) {
  return d === 'sendrecv' || d === 'sendonly';
}

/**
 * Whether a direction includes receiving.
 * @param {Direction|string|null|undefined} d
 */
export function hasRecv(d) {
  return d === 'sendrecv' || d === 'recvonly';
}

/**
 * The direction made of the two halves.
 * @param {boolean} send
 * @param {boolean} recv
 * @returns {Direction}
 */
export function direction(send, recv) {
  if (send) return recv ? 'sendrecv' : 'sendonly';
  return recv ? 'recvonly' : 'inactive';
}

/**
 * The direction with sending added, receiving as it was.
 * @param {Direction|string} d
 * @returns {Direction}
 */
export function withSend(d) {
  return direction(true, hasRecv(d));
}

/**
 * The direction with sending removed, receiving as it was.
 * @param {Direction|string} d
 * @returns {Direction}
 */
export function withoutSend(d) {
  return direction(false, hasRecv(d));
}

/**
 * The same m-line seen from the other end (sendonly there is recvonly here).
 * @param {Direction|string} d
 * @returns {Direction}
 */
export function reverse(d) {
  return direction(hasRecv(d), hasSend(d));
}

/**
 * @template T
 * @typedef {object} SenderPlan
 * @property {{index: number, track: T}[]} reuse owned transceivers that get a
 *   track (possibly the one they already carry): replaceTrack and send
 * @property {T[]} add tracks that need a sender of their own (addTrack)
 * @property {number[]} idle owned transceivers left without a track: stop sending
 */

/**
 * Which transceiver sends which track after publish(). Each link keeps the
 * transceivers it has sent on ("owned") and reuses them with replaceTrack, so
 * publishing again, or another stream, never piles up m-lines: a track stays
 * on the transceiver already carrying it, the other tracks of a kind take the
 * free owned transceivers of that kind in order, tracks left over need new
 * senders, and owned transceivers left over stop sending.
 * @template {{kind: string}} T
 * @param {{kind: string, track: T|null}[]} owned the link's transceivers, in order, with what they send now
 * @param {T[]} tracks the tracks to send
 * @returns {SenderPlan<T>}
 */
export function planSenders(owned, tracks) {
  /** @type {SenderPlan<T>} */
  const plan = { reuse: [], add: [], idle: [] };
  const taken = new Set();
  const placed = new Set();
  // A track already on one of the transceivers stays there.
  owned.forEach((o, index) => {
    if (o.track && tracks.includes(o.track) && !placed.has(o.track)) {
      plan.reuse.push({ index, track: o.track });
      taken.add(index);
      placed.add(o.track);
    }
  });
  for (const track of tracks) {
    if (placed.has(track)) continue;
    placed.add(track);
    const index = owned.findIndex((o, i) => !taken.has(i) && o.kind === track.kind);
    if (index < 0) {
      plan.add.push(track);
      continue;
    }
    taken.add(index);
    plan.reuse.push({ index, track });
  }
  owned.forEach((_, index) => {
    if (!taken.has(index)) plan.idle.push(index);
  });
  plan.reuse.sort((a, b) => a.index - b.index);
  return plan;
}

/**
 * The configuration of a new RTCPeerConnection: the app's rtcConfig, with
 * the server's ICE servers unless rtcConfig brings its own.
 * @param {RTCConfiguration|undefined} rtcConfig
 * @param {RTCIceServer[]|undefined} iceServers from the server
 * @returns {RTCConfiguration}
 */
export function peerConfig(rtcConfig, iceServers) {
  return { ...rtcConfig, iceServers: ownsIceServers(rtcConfig) ? rtcConfig?.iceServers : (iceServers ?? []) };
}

/**
 * Whether rtcConfig names its own ICE servers, which then replace the
 * server's (and its refreshed TURN credentials are not applied).
 * @param {RTCConfiguration|undefined} rtcConfig
 */
export function ownsIceServers(rtcConfig) {
  return Array.isArray(rtcConfig?.iceServers);
}

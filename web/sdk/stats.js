// Reading RTCStatsReports: the selected ICE candidate pair (and so whether a
// link is direct or relayed through TURN), and the PeerStats summary with
// bitrates computed against the previous report. Pure: a report is anything
// with values() (RTCStatsReport, Map) or an array of stats objects, so it
// runs under Node.

/**
 * @typedef {'direct'|'relayed'} ConnectionType
 *
 * @typedef {object} CandidateInfo
 * @property {string} type host, srflx, prflx or relay
 * @property {string} protocol udp or tcp
 * @property {string} [relayProtocol] how a relay candidate reaches the TURN server (udp, tcp, tls)
 * @property {string} [address]
 * @property {number} [port]
 *
 * @typedef {object} PeerStats
 * @property {ConnectionType|null} connectionType
 * @property {CandidateInfo|null} local the selected pair's local candidate
 * @property {Omit<CandidateInfo, 'relayProtocol'>|null} remote the selected pair's remote candidate
 * @property {number|null} rtt milliseconds, currentRoundTripTime of the selected pair
 * @property {number} bytesSent transport totals
 * @property {number} bytesReceived
 * @property {number|null} bitrateIn bits/s of inbound RTP since the previous sample; null without one
 * @property {number|null} bitrateOut bits/s of outbound RTP, same rule
 * @property {{framesDecoded: number, framesReceived: number, frameWidth?: number, frameHeight?: number, framesPerSecond?: number}|null} video
 *   inbound video summed over its streams; null without inbound video
 * @property {{packetsReceived: number, audioLevel?: number}|null} audio inbound audio; null without
 * @property {number} timestamp milliseconds, of the report
 *
 * @typedef {object} StatsSample what the next bitrate computation needs
 * @property {number} timestamp
 * @property {Map<string, number>} inbound bytes received by inbound-rtp id
 * @property {Map<string, number>} outbound bytes sent by outbound-rtp id
 */

/**
 * The stats of a report as an array.
 * @param {any} report
 * @returns {any[]}
 */
export function statsList(report) {
  if (!report) return [];
  if (Array.isArray(report)) return report;
  if (typeof report.values === 'function') return [...report.values()];
  return Object.values(report);
}

/**
 * The selected candidate pair and its two candidates: the pair a transport
 * names (selectedCandidatePairId, Chromium and the spec), else the one
 * flagged "selected" (Firefox). Null when no pair is selected yet.
 * @param {any} report
 * @returns {{pair: any, local: any, remote: any}|null}
 */
export function selectedPair(report) {
  const stats = statsList(report);
  const byId = new Map(stats.map((s) => [s.id, s]));
  let pair = null;
  for (const s of stats) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = byId.get(s.selectedCandidatePairId) ?? null;
      if (pair) break;
    }
  }
  pair ??= stats.find((s) => s.type === 'candidate-pair' && s.selected === true) ?? null;
  if (!pair) return null;
  return { pair, local: byId.get(pair.localCandidateId) ?? null, remote: byId.get(pair.remoteCandidateId) ?? null };
}

/**
 * Whether the selected pair goes through a TURN relay: relayed when either
 * end's candidate is of type "relay", direct otherwise, null when no pair is
 * selected (or its candidates are not in the report).
 * @param {any} report
 * @returns {ConnectionType|null}
 */
export function connectionTypeOf(report) {
  const sel = selectedPair(report);
  if (!sel || (!sel.local && !sel.remote)) return null;
  return sel.local?.candidateType === 'relay' || sel.remote?.candidateType === 'relay' ? 'relayed' : 'direct';
}

/**
 * @param {any} c a local-candidate or remote-candidate stat
 * @param {boolean} withRelay
 * @returns {CandidateInfo|null}
 */
function candidate(c, withRelay) {
  if (!c) return null;
  /** @type {CandidateInfo} */
  const out = { type: String(c.candidateType ?? ''), protocol: String(c.protocol ?? '') };
  if (withRelay && c.relayProtocol !== undefined) out.relayProtocol = c.relayProtocol;
  const address = c.address ?? c.ip;
  if (address !== undefined && address !== null) out.address = address;
  if (typeof c.port === 'number') out.port = c.port;
  return out;
}

/**
 * Bits per second between two samples of byte counters: per stream, what it
 * gained (a stream new since the last sample counts whole, one gone counts
 * nothing). Null without a previous sample or with no time between the two.
 * @param {Map<string, number>|undefined} before
 * @param {Map<string, number>} now
 * @param {number} seconds
 * @returns {number|null}
 */
export function bitrate(before, now, seconds) {
  if (!before || !(seconds > 0)) return null;
  let bytes = 0;
  for (const [id, n] of now) bytes += Math.max(0, n - (before.get(id) ?? 0));
  return Math.round((bytes * 8) / seconds);
}

/**
 * The PeerStats of a report, and the sample the next call compares with.
 * @param {any} report
 * @param {StatsSample|null|undefined} prev the sample of the previous call for this link
 * @returns {{stats: PeerStats, sample: StatsSample}}
 */
export function summarizeStats(report, prev) {
  const stats = statsList(report);
  const sel = selectedPair(stats);
  let timestamp = 0;
  let bytesSent = 0;
  let bytesReceived = 0;
  let transports = 0;
  /** @type {Map<string, number>} */
  const inbound = new Map();
  /** @type {Map<string, number>} */
  const outbound = new Map();
  /** @type {any} */
  let video = null;
  let biggest = -1;
  /** @type {any} */
  let audio = null;
  for (const s of stats) {
    if (typeof s.timestamp === 'number' && s.timestamp > timestamp) timestamp = s.timestamp;
    switch (s.type) {
      case 'transport':
        transports++;
        bytesSent += s.bytesSent ?? 0;
        bytesReceived += s.bytesReceived ?? 0;
        break;
      case 'outbound-rtp':
        outbound.set(s.id, s.bytesSent ?? 0);
        break;
      case 'inbound-rtp': {
        inbound.set(s.id, s.bytesReceived ?? 0);
        const kind = s.kind ?? s.mediaType;
        if (kind === 'video') {
          video ??= { framesDecoded: 0, framesReceived: 0 };
          video.framesDecoded += s.framesDecoded ?? 0;
          video.framesReceived += s.framesReceived ?? 0;
          // Size and rate are those of the largest stream.
          const area = (s.frameWidth ?? 0) * (s.frameHeight ?? 0);
          if (area > biggest) {
            biggest = area;
            if (s.frameWidth !== undefined) video.frameWidth = s.frameWidth;
            if (s.frameHeight !== undefined) video.frameHeight = s.frameHeight;
            if (s.framesPerSecond !== undefined) video.framesPerSecond = s.framesPerSecond;
          }
        } else if (kind === 'audio') {
          audio ??= { packetsReceived: 0 };
          audio.packetsReceived += s.packetsReceived ?? 0;
          if (typeof s.audioLevel === 'number') audio.audioLevel = Math.max(audio.audioLevel ?? 0, s.audioLevel);
        }
        break;
      }
    }
  }
  if (transports === 0 && sel) {
    // No transport stats (older browsers): the selected pair's counters.
    bytesSent = sel.pair.bytesSent ?? 0;
    bytesReceived = sel.pair.bytesReceived ?? 0;
  }
  if (timestamp === 0) timestamp = Date.now();
  const seconds = prev ? (timestamp - prev.timestamp) / 1000 : 0;
  const rtt = sel?.pair.currentRoundTripTime;
  return {
    stats: {
      connectionType: connectionTypeOf(stats),
      local: candidate(sel?.local, true),
      remote: candidate(sel?.remote, false),
      rtt: typeof rtt === 'number' ? rtt * 1000 : null,
      bytesSent,
      bytesReceived,
      bitrateIn: bitrate(prev?.inbound, inbound, seconds),
      bitrateOut: bitrate(prev?.outbound, outbound, seconds),
      video,
      audio,
      timestamp,
    },
    sample: { timestamp, inbound, outbound },
  };
}

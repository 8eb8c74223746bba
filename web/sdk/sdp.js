// What the SDK reads from a session description itself: per media section
// its mid, kind, direction and msid. Pure: it runs under Node.

/**
 * @typedef {object} MediaSection
 * @property {string} kind audio, video, application
 * @property {number} port 0 for a rejected or stopped section
 * @property {string|null} mid
 * @property {string} direction sendrecv, sendonly, recvonly or inactive (sendrecv when unsaid)
 * @property {string|null} stream the msid's stream id
 * @property {string|null} track the msid's track id
 */

const DIRECTIONS = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);

/**
 * The media sections of an SDP text, in order. The msid comes from
 * a=msid, or from the older a=ssrc:... msid: where there is none.
 * @param {string} sdp
 * @returns {MediaSection[]}
 */
export function mediaSections(sdp) {
  /** @type {MediaSection[]} */
  const out = [];
  /** @type {MediaSection|null} */
  let m = null;
  let sessionDirection = 'sendrecv';
  for (const raw of String(sdp).split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      const [kind, port] = line.slice(2).split(' ');
      m = { kind, port: Number(port) || 0, mid: null, direction: sessionDirection, stream: null, track: null };
      out.push(m);
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const attr = line.slice(2);
    if (DIRECTIONS.has(attr)) {
      if (m) m.direction = attr;
      else sessionDirection = attr;
    } else if (!m) {
      continue;
    } else if (attr.startsWith('mid:')) {
      m.mid = attr.slice(4);
    } else if (attr.startsWith('msid:')) {
      const [stream, track] = attr.slice(5).split(' ');
      m.stream = stream || null;
      m.track = track || null;
    } else if (m.stream === null && /^ssrc:\d+ msid:/.test(attr)) {
      const [stream, track] = attr.slice(attr.indexOf('msid:') + 5).split(' ');
      m.stream = stream || null;
      m.track = track || null;
    }
  }
  return out;
}

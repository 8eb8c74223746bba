// The remote streams of an auto room: one MediaStream per peer for the life
// of the room, whichever path (mesh link or SFU) its media comes on. When a
// switch moves a peer, the tracks of the new path are added to the same
// stream and then those of the old path removed, with a "track" event for
// each added and a "track-ended" for each removed, so an app that set
// video.srcObject = stream once keeps showing the peer (docs/sdk.md, "Auto
// rooms").

/**
 * @typedef {(event: 'track'|'track-ended', peer: string, track: MediaStreamTrack, stream: MediaStream) => void} TrackEmit
 */

export class PeerStreams {
  /** @type {Map<string, MediaStream>} */
  #streams = new Map();
  #MS;
  #emit;

  /**
   * @param {typeof MediaStream|undefined} MS the MediaStream constructor (none: streams are undefined)
   * @param {TrackEmit} emit
   */
  constructor(MS, emit) {
    this.#MS = MS;
    this.#emit = emit;
  }

  /**
   * The peer's stream, made on first use.
   * @param {string} peer
   * @returns {MediaStream|undefined}
   */
  stream(peer) {
    let s = this.#streams.get(peer);
    if (!s && typeof this.#MS === 'function') {
      s = new this.#MS();
      this.#streams.set(peer, s);
    }
    return s;
  }

  /**
   * A track of the peer's current path arrived.
   * @param {string} peer
   * @param {MediaStreamTrack} track
   */
  add(peer, track) {
    const s = this.stream(peer);
    if (!s || s.getTracks().includes(track)) return;
    s.addTrack(track);
    this.#emit('track', peer, track, s);
  }

  /**
   * A track of the peer's current path ended.
   * @param {string} peer
   * @param {MediaStreamTrack} track
   */
  remove(peer, track) {
    const s = this.#streams.get(peer);
    if (!s || !s.getTracks().includes(track)) return;
    s.removeTrack(track);
    this.#emit('track-ended', peer, track, s);
  }

  /**
   * The peer moved: its stream holds these tracks now (the new ones are
   * added before the old ones leave, so the stream is never empty between).
   * @param {string} peer
   * @param {MediaStreamTrack[]} tracks
   */
  show(peer, tracks) {
    const s = this.stream(peer);
    if (!s) return;
    const old = s.getTracks().filter((t) => !tracks.includes(t));
    for (const t of tracks) this.add(peer, t);
    for (const t of old) this.remove(peer, t);
  }

  /**
   * The peer left: its tracks end and its stream is forgotten.
   * @param {string} peer
   */
  drop(peer) {
    this.show(peer, []);
    this.#streams.delete(peer);
  }

  /** Every stream's tracks end (the room is closed or starts afresh). */
  clear() {
    for (const peer of [...this.#streams.keys()]) this.drop(peer);
  }
}

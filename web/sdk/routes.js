// Where a room's link events go. In mesh and sfu rooms (DirectRoutes) they
// are the room's events as they are: a link's state is its peers' state, a
// link's track a "track" event. Auto rooms route them through AutoRoom
// (auto.js) instead, which shows each peer from the path it is on.

/**
 * @typedef {import('./peer.js').PeerState} PeerState
 *
 * @typedef {object} Routes how a room's links report
 * @property {(peer: string, state: PeerState) => void} meshState a mesh link's state changed
 * @property {(peer: string, type: string|null) => void} meshType a mesh link's candidate pair changed type
 * @property {(peer: string, track: MediaStreamTrack, stream: MediaStream, live: boolean) => void} meshTrack
 * @property {(state: PeerState) => void} sfuState the SFU link's state changed
 * @property {(peer: string, track: MediaStreamTrack, stream: MediaStream, live: boolean) => void} sfuTrack
 * @property {(peer: string) => boolean} showsMesh whether the peer's PeerInfo follows its mesh link
 * @property {((peer: string, raw: unknown) => void)|undefined} meshMessage raw messages of mesh links (else decoded by the link)
 * @property {((raw: unknown) => void)|undefined} sfuMessage raw messages of the SFU link (else decoded by the link)
 *
 * @typedef {object} RouteSink what DirectRoutes reports to
 * @property {(event: string, ...args: any[]) => void} emit
 * @property {(peer: string, state: PeerState) => void} setState
 * @property {(peer: string, type: any) => void} setConnectionType
 * @property {() => Iterable<string>} peers
 */

/** @implements {Routes} */
export class DirectRoutes {
  #sink;
  /** @type {undefined} */ meshMessage = undefined;
  /** @type {undefined} */ sfuMessage = undefined;

  /** @param {RouteSink} sink */
  constructor(sink) {
    this.#sink = sink;
  }

  /** @param {string} peer @param {PeerState} state */
  meshState(peer, state) {
    this.#sink.setState(peer, state);
  }

  /** @param {string} peer @param {string|null} type */
  meshType(peer, type) {
    this.#sink.setConnectionType(peer, type);
  }

  /** @param {string} peer @param {MediaStreamTrack} track @param {MediaStream} stream @param {boolean} live */
  meshTrack(peer, track, stream, live) {
    this.#sink.emit(live ? 'track' : 'track-ended', peer, track, stream);
  }

  /** @param {PeerState} state */
  sfuState(state) {
    for (const p of [...this.#sink.peers()]) this.#sink.setState(p, state);
  }

  /** @param {string} peer @param {MediaStreamTrack} track @param {MediaStream} stream @param {boolean} live */
  sfuTrack(peer, track, stream, live) {
    this.#sink.emit(live ? 'track' : 'track-ended', peer, track, stream);
  }

  showsMesh() {
    return true;
  }
}

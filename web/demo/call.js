// The video call: join a room with camera and microphone, see a tile per
// peer with its video, its connection type (direct, relayed through TURN, or
// through the server's SFU) and the live inbound bitrate; in an SFU room
// also the layer forwarded, and the active speaker highlighted. Mute and
// camera-off only disable the local tracks (no renegotiation) and tell the
// peers over the data channel, so their tiles show it.
//
// In an auto room (a mesh that the server moves to its SFU when it grows,
// and back when it shrinks) the mode shows "Auto" and each switch puts up a
// short notice ("Moved to the server", "Back to peer-to-peer").
//
// State for tests lives in window.call; call.snapshot() returns it as plain
// JSON. <body data-state> mirrors call.state and <body data-mode> the room's
// mode; every tile carries data-peer, data-state, data-connection ("sfu" in
// an SFU room), data-layer and data-speaking.

import { Switchboard } from '/sdk/switchboard.js';
import {
  $, el, displayName, initials, setStatus, showError, obtainToken, explain, inviteURL, createClient, formatBitrate, formatMs,
} from '/common.js';

/** @typedef {import('/sdk/switchboard.js').Room} Room */
/**
 * @typedef {object} CallPeer
 * @property {string} peer
 * @property {string} name
 * @property {string} state link state
 * @property {'direct'|'relayed'|null} connectionType
 * @property {number|null} bitrateIn bits/s of inbound media
 * @property {number|null} bitrateOut
 * @property {number|null} rtt ms
 * @property {number} framesDecoded of the peer's video
 * @property {number} framesReceived
 * @property {number|null} frameWidth
 * @property {number|null} frameHeight
 * @property {boolean} hasVideo a live remote video track is there
 * @property {boolean} hasAudio
 * @property {boolean} muted the peer says it muted its microphone
 * @property {boolean} cameraOff the peer says it switched its camera off
 * @property {boolean} viaSfu its media comes through the server's SFU
 * @property {boolean} relayedToServer SFU room: this tab reaches the server through TURN
 * @property {string|null} layer SFU room: the layer forwarded of its video (low, medium, high, none)
 * @property {boolean} paused SFU room: the server sends none of its video now
 * @property {boolean} speaking it is the loudest active speaker
 * @property {'auto'|'low'|'medium'|'high'} quality SFU room: the layer asked for (room.setQuality)
 */

const STATS_INTERVAL_MS = 1000;
/** How long the notice of a switch stays up. */
const SWITCH_NOTICE_MS = 6000;
/** How many past errors call.errors keeps (an outage adds one per reconnection attempt). */
const MAX_ERRORS = 20;

const ui = {
  joinView: $('join-view'),
  joinForm: /** @type {HTMLFormElement} */ ($('join-form')),
  room: /** @type {HTMLInputElement} */ ($('room')),
  name: /** @type {HTMLInputElement} */ ($('name')),
  useCamera: /** @type {HTMLInputElement} */ ($('use-camera')),
  useMic: /** @type {HTMLInputElement} */ ($('use-mic')),
  forceRelay: /** @type {HTMLInputElement} */ ($('force-relay')),
  tokenBox: $('token-box'),
  token: /** @type {HTMLTextAreaElement} */ ($('token')),
  join: /** @type {HTMLButtonElement} */ ($('join')),
  joinNoMedia: /** @type {HTMLButtonElement} */ ($('join-nomedia')),
  roomView: $('room-view'),
  roomName: $('room-name'),
  roomMode: $('room-mode'),
  peerCount: $('peer-count'),
  relayNote: $('relay-note'),
  invite: /** @type {HTMLAnchorElement} */ ($('invite')),
  mediaNotice: $('media-notice'),
  modeNotice: $('mode-notice'),
  tiles: $('tiles'),
  mute: /** @type {HTMLButtonElement} */ ($('mute')),
  camera: /** @type {HTMLButtonElement} */ ($('camera')),
  leave: $('leave'),
};

/** Call state, readable from tests and the console. */
const call = {
  /** @type {'idle'|'media'|'connecting'|'joined'|'reconnecting'|'error'} */
  state: 'idle',
  /** @type {string|null} */
  peerId: null,
  /** @type {string|null} */
  roomName: null,
  /** @type {'mesh'|'sfu'|null} the room's mode, once joined */
  mode: null,
  /** whether the server runs the room in mode auto */
  auto: false,
  /** @type {{mode: 'mesh'|'sfu', switch: number, failed: string[], at: number}[]} the switches seen, oldest first (auto rooms) */
  switches: [],
  /** @type {string[]} SFU room: the active speakers, loudest first */
  speakers: [],
  /** @type {string|null} */
  name: null,
  /** What this tab sends: whether it has a camera / microphone track, and why not. */
  media: {
    video: false,
    audio: false,
    /** @type {{code: string, message: string}|null} */
    error: null,
  },
  muted: false,
  cameraOff: false,
  /** Whether this tab forces media through TURN (iceTransportPolicy 'relay'). */
  relayOnly: false,
  /** @type {CallPeer[]} */
  peers: [],
  /** @type {{code: string, message: string, at: number}[]} the last MAX_ERRORS errors shown, oldest first */
  errors: [],
  /** @type {{code: string, message: string, title: string}|null} the error shown now */
  error: null,
  /** @type {Switchboard|null} */
  client: null,
  /** @type {Room|null} */
  room: null,
  /** @type {MediaStream|null} */
  localStream: null,
  snapshot() {
    const { state, peerId, roomName, mode, auto, switches, speakers, name, media, muted, cameraOff, relayOnly, peers, errors, error } = call;
    return structuredClone({ state, peerId, roomName, mode, auto, switches, speakers, name, media, muted, cameraOff, relayOnly, peers, errors, error });
  },
};
/** @type {any} */ (window).call = call;

/** @type {Map<string, CallPeer>} */
const peerState = new Map();
/** @type {Map<string, {tile: HTMLElement, video: HTMLVideoElement, stream: MediaStream|null, unobserve?: () => void}>} */
const tiles = new Map();
/** @type {Map<string, string>} the last link state seen per peer */
const linkStates = new Map();
/** @type {ReturnType<typeof setTimeout>|undefined} */
let statsTimer;
/** @type {ReturnType<typeof setTimeout>|undefined} */
let noticeTimer;

// ---- state and errors ---------------------------------------------------------------

/** @param {typeof call.state} state @param {string} text */
function setState(state, text) {
  call.state = state;
  setStatus(state, text);
}

/** @param {{code?: string, message: string}|null} err @param {string} [title] */
function setError(err, title) {
  call.error = showError(err, title);
  if (err) {
    call.errors.push({ code: err.code ?? 'error', message: err.message, at: Date.now() });
    if (call.errors.length > MAX_ERRORS) call.errors.splice(0, call.errors.length - MAX_ERRORS);
  }
  if (!err) ui.joinNoMedia.hidden = true;
}

/**
 * What a getUserMedia failure means, in words for people.
 * @param {any} err
 * @returns {{code: string, title: string, message: string}}
 */
function mediaError(err) {
  switch (err?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return {
        code: 'media_denied',
        title: 'Camera refused',
        message: 'Access to the camera and microphone was refused. Allow it for this site in the browser (the icon in the address bar) and join again, or join without them.',
      };
    case 'NotFoundError':
    case 'OverconstrainedError':
      return { code: 'no_device', title: 'No camera or microphone', message: 'No camera or microphone was found. Plug one in and join again, or join without them.' };
    case 'NotReadableError':
    case 'AbortError':
      return {
        code: 'device_busy',
        title: 'Camera unavailable',
        message: 'The camera or microphone could not be started: another application may be using it. Close it and join again, or join without them.',
      };
    default:
      return { code: 'media_failed', title: 'Camera unavailable', message: `The camera or microphone could not be opened: ${err?.message || err}.` };
  }
}

/**
 * Opens the camera and/or microphone. When both are asked for and one is
 * missing, takes the other alone. Throws the getUserMedia error when
 * nothing could be opened.
 * @param {boolean} video @param {boolean} audio
 * @returns {Promise<{stream: MediaStream, missing: string|null}>}
 */
async function openMedia(video, audio) {
  const md = navigator.mediaDevices;
  if (!md?.getUserMedia) {
    const e = new Error('Camera and microphone need a secure page (https:// or localhost).');
    e.name = 'SecurityError';
    throw e;
  }
  const width = Number(params.get('width')) || 1280; // ?width=480: below the SDK's simulcast threshold
  const fps = Number(params.get('fps')) || 30; // ?fps=15: half the encoding and decoding, for a small machine
  const size = { width: { ideal: width }, height: { ideal: Math.round((width * 9) / 16) }, frameRate: { ideal: fps } };
  const constraints = { video: video ? size : false, audio };
  try {
    return { stream: await md.getUserMedia(constraints), missing: null };
  } catch (err) {
    const name = /** @type {any} */ (err)?.name;
    if (!(video && audio) || !['NotFoundError', 'NotReadableError', 'OverconstrainedError'].includes(name)) throw err;
    // One of the two may still work: a laptop without a camera, say.
    for (const [only, missing] of /** @type {const} */ ([[{ audio: true }, 'camera'], [{ video: constraints.video }, 'microphone']])) {
      try {
        return { stream: await md.getUserMedia(only), missing };
      } catch {
        // try the other
      }
    }
    throw err;
  }
}

// ---- tiles ----------------------------------------------------------------------------

/**
 * @param {string} id
 * @param {string} name
 * @param {boolean} self
 */
function makeTile(id, name, self) {
  const tile = el('div', self ? 'tile self' : 'tile');
  tile.dataset.peer = id;
  const video = /** @type {HTMLVideoElement} */ (el('video', 'tile-video'));
  video.autoplay = true;
  video.playsInline = true;
  if (self) video.muted = true; // never play one's own microphone back
  const placeholder = el('div', 'tile-placeholder');
  placeholder.append(el('span', 'avatar big', initials(name)), el('span', 'tile-placeholder-text', ''));
  const top = el('div', 'tile-top');
  top.append(el('span', 'tile-badge conn', ''), el('span', 'tile-badge layer', ''), el('span', 'tile-badge rate', ''));
  const bottom = el('div', 'tile-bottom');
  bottom.append(el('span', 'tile-name', self ? `${name} (you)` : name), el('span', 'tile-badge muted', 'Muted'));
  if (!self) {
    // SFU rooms: which simulcast layer to receive (room.setQuality).
    const quality = /** @type {HTMLSelectElement} */ (el('select', 'tile-quality'));
    quality.title = 'the layer the SFU sends to this tab';
    for (const q of ['auto', 'low', 'medium', 'high']) {
      const o = /** @type {HTMLOptionElement} */ (el('option', '', q === 'auto' ? 'Auto' : q[0].toUpperCase() + q.slice(1)));
      o.value = q;
      quality.append(o);
    }
    quality.hidden = true;
    quality.addEventListener('change', () => setQuality(id, /** @type {any} */ (quality.value)));
    bottom.append(quality);
  }
  const sound = /** @type {HTMLButtonElement} */ (el('button', 'tile-sound secondary', 'Click to play sound'));
  sound.type = 'button';
  sound.hidden = true;
  sound.addEventListener('click', () => {
    sound.hidden = true;
    video.play().catch(() => {});
  });
  tile.append(video, placeholder, top, bottom, sound);
  return { tile, video, stream: /** @type {MediaStream|null} */ (null) };
}

/**
 * Shows a stream in a tile's video (again: a re-set makes the element pick
 * up tracks added since).
 * @param {{tile: HTMLElement, video: HTMLVideoElement, stream: MediaStream|null}} t
 * @param {MediaStream|null} stream
 */
function attach(t, stream) {
  t.stream = stream;
  t.video.srcObject = stream;
  if (!stream) return;
  t.video.play().catch((err) => {
    // Autoplay with sound can be refused until the user interacts.
    if (err?.name === 'NotAllowedError') /** @type {HTMLElement} */ (t.tile.querySelector('.tile-sound')).hidden = false;
  });
}

function renderSelfTile() {
  let t = tiles.get('');
  if (!t) {
    t = makeTile('', call.name ?? 'You', true);
    tiles.set('', t);
    attach(t, call.localStream);
  }
  const hasVideo = call.media.video && !call.cameraOff;
  t.tile.dataset.video = String(hasVideo);
  t.tile.dataset.muted = String(!call.media.audio || call.muted);
  /** @type {HTMLElement} */ (t.tile.querySelector('.tile-placeholder-text')).textContent =
    !call.media.video ? 'No camera' : call.cameraOff ? 'Camera off' : '';
  /** @type {HTMLElement} */ (t.tile.querySelector('.muted')).textContent = call.media.audio ? 'Muted' : 'No microphone';
  const conn = /** @type {HTMLElement} */ (t.tile.querySelector('.conn'));
  conn.hidden = call.state === 'joined';
  conn.textContent = call.state === 'reconnecting' ? 'Reconnecting…' : 'Connecting…';
  conn.dataset.kind = 'none';
  /** @type {HTMLElement} */ (t.tile.querySelector('.rate')).hidden = true;
  /** @type {HTMLElement} */ (t.tile.querySelector('.layer')).hidden = true;
  t.tile.dataset.speaking = String(!!call.peerId && call.speakers[0] === call.peerId);
}

function renderPeers() {
  const room = call.room;
  const ids = new Set(room ? room.peers.keys() : []);
  for (const id of [...peerState.keys()]) if (!ids.has(id)) peerState.delete(id);
  for (const [id, t] of tiles) {
    if (id !== '' && !ids.has(id)) {
      t.unobserve?.();
      t.video.srcObject = null;
      t.tile.remove();
      tiles.delete(id);
    }
  }
  if (room) {
    for (const info of room.peers.values()) {
      let p = peerState.get(info.peer);
      if (!p) {
        p = {
          peer: info.peer, name: displayName(info), state: info.state, connectionType: null, bitrateIn: null, bitrateOut: null,
          rtt: null, framesDecoded: 0, framesReceived: 0, frameWidth: null, frameHeight: null, hasVideo: false, hasAudio: false,
          muted: false, cameraOff: false, viaSfu: false, relayedToServer: false, layer: null, paused: false, speaking: false,
          quality: 'auto',
        };
        peerState.set(info.peer, p);
      }
      p.name = displayName(info);
      p.state = info.state;
      // A null type keeps what getStats said, unless the peer left the SFU (auto rooms).
      const type = /** @type {any} */ (info).connectionType;
      const wasSfu = p.viaSfu;
      p.connectionType = type ?? (p.connectionType === 'sfu' ? null : p.connectionType) ?? null;
      p.viaSfu = p.connectionType === 'sfu';
      // An auto room moved the peer: the old path's counters say nothing of the new one.
      if (wasSfu !== p.viaSfu) {
        Object.assign(p, { bitrateIn: null, rtt: null, framesDecoded: 0, framesReceived: 0, frameWidth: null, frameHeight: null, layer: null, paused: false });
      }
      p.speaking = call.speakers[0] === info.peer;
      const stream = typeof room.remoteStream === 'function' ? room.remoteStream(info.peer) ?? null : null;
      p.hasVideo = !!stream && stream.getVideoTracks().some((tr) => tr.readyState === 'live');
      p.hasAudio = !!stream && stream.getAudioTracks().some((tr) => tr.readyState === 'live');
      let t = tiles.get(info.peer);
      if (!t) {
        t = makeTile(info.peer, p.name, false);
        tiles.set(info.peer, t);
        attach(t, stream);
        // SFU rooms: the server forwards a layer that fits the tile.
        if (typeof room.observe === 'function') t.unobserve = room.observe(info.peer, t.video);
      } else if (stream && t.stream !== stream) {
        attach(t, stream);
      }
      renderPeerTile(p, t.tile);
    }
  }
  // Own tile first, then peers in order of arrival.
  const order = [tiles.get(''), ...[...peerState.keys()].map((id) => tiles.get(id))]
    .filter((x) => !!x)
    .map((x) => /** @type {{tile: HTMLElement}} */ (x).tile);
  // Only when it changed: moving a playing video around is not free.
  const now = [...ui.tiles.children];
  if (now.length !== order.length || now.some((c, i) => c !== order[i])) ui.tiles.replaceChildren(...order);
  ui.tiles.dataset.count = String(order.length);
  call.peers = [...peerState.values()].map((p) => ({ ...p }));
  document.body.dataset.mode = call.mode ?? '';
  ui.roomMode.hidden = call.mode === null;
  ui.roomMode.dataset.mode = call.mode ?? '';
  ui.roomMode.dataset.auto = String(call.auto);
  ui.roomMode.textContent = (call.auto ? 'Auto · ' : '') + (call.mode === 'sfu' ? 'SFU: media through the server' : 'Mesh: media peer to peer');
  const n = call.peers.length;
  ui.peerCount.textContent = n === 0 ? 'Only you so far' : `You and ${n} other${n === 1 ? '' : 's'}`;
}

/** @param {CallPeer} p @param {HTMLElement} tile */
function renderPeerTile(p, tile) {
  tile.dataset.state = p.state;
  tile.dataset.connection = p.connectionType ?? '';
  tile.dataset.layer = p.layer ?? '';
  tile.dataset.speaking = String(p.speaking);
  tile.dataset.video = String(p.hasVideo && !p.cameraOff);
  tile.dataset.muted = String(p.muted || !p.hasAudio);
  /** @type {HTMLElement} */ (tile.querySelector('.tile-name')).textContent = p.name;
  /** @type {HTMLElement} */ (tile.querySelector('.muted')).textContent = p.hasAudio ? 'Muted' : 'No audio';
  /** @type {HTMLElement} */ (tile.querySelector('.tile-placeholder-text')).textContent =
    p.state !== 'connected' ? `${p.state}…` : p.cameraOff ? 'Camera off' : !p.hasVideo ? 'No video' : '';
  const conn = /** @type {HTMLElement} */ (tile.querySelector('.conn'));
  conn.textContent = p.viaSfu
    ? (p.relayedToServer ? 'Via SFU (TURN)' : 'Via SFU')
    : p.connectionType === 'relayed' ? 'Relayed (TURN)' : p.connectionType === 'direct' ? 'Direct' : p.state === 'connected' ? 'Checking path…' : p.state;
  conn.dataset.kind = p.connectionType ?? 'none';
  conn.title = (p.viaSfu ? 'forwarded by the server; ' : '') + (p.rtt !== null ? `round trip ${formatMs(p.rtt)}` : '');
  const layer = /** @type {HTMLElement} */ (tile.querySelector('.layer'));
  layer.hidden = !p.viaSfu || p.layer === null;
  layer.textContent = p.paused || p.layer === 'none' ? 'Paused' : `Layer ${p.layer}`;
  layer.title = 'the simulcast layer the SFU forwards to this tab';
  const quality = /** @type {HTMLSelectElement} */ (tile.querySelector('.tile-quality'));
  quality.hidden = !p.viaSfu;
  if (quality.value !== p.quality) quality.value = p.quality;
  const rate = /** @type {HTMLElement} */ (tile.querySelector('.rate'));
  rate.hidden = p.bitrateIn === null;
  rate.textContent = `↓ ${formatBitrate(p.bitrateIn)}`;
  rate.title = p.frameWidth ? `${p.frameWidth}×${p.frameHeight}, ${p.framesDecoded} frames decoded` : '';
}

/**
 * Asks the SFU for a layer of a peer's video.
 * @param {string} peer @param {'auto'|'low'|'medium'|'high'} quality
 */
function setQuality(peer, quality) {
  const p = peerState.get(peer);
  if (!p || !call.room) return;
  p.quality = quality;
  call.room.setQuality(peer, quality);
  renderPeers();
}

// ---- stats ----------------------------------------------------------------------------

async function pollStats() {
  const room = call.room;
  if (!room || typeof room.getStats !== 'function') return;
  await Promise.all(
    [...peerState.values()].map(async (p) => {
      let s;
      try {
        s = await room.getStats(p.peer);
      } catch (err) {
        console.warn('getStats', p.peer, err);
        return;
      }
      if (!s || call.room !== room || !peerState.has(p.peer)) return;
      // Read from the path the peer has just left (auto rooms): stale.
      if ((s.connectionType === 'sfu') !== (room.peers.get(p.peer)?.connectionType === 'sfu')) return;
      p.connectionType = s.connectionType ?? p.connectionType;
      p.relayedToServer = s.connectionType === 'sfu' && s.local?.type === 'relay';
      p.bitrateIn = s.bitrateIn;
      p.bitrateOut = s.bitrateOut;
      p.rtt = s.rtt;
      p.framesDecoded = s.video?.framesDecoded ?? 0;
      p.framesReceived = s.video?.framesReceived ?? 0;
      p.frameWidth = s.video?.frameWidth ?? null;
      p.frameHeight = s.video?.frameHeight ?? null;
    }),
  );
  if (call.room === room) renderPeers();
}

/**
 * Polls the stats of room every STATS_INTERVAL_MS, each poll starting a
 * period after the one before ended (getStats can be slow: polls never
 * overlap), until the page leaves room.
 * @param {Room} room
 */
function scheduleStats(room) {
  statsTimer = setTimeout(async () => {
    try {
      await pollStats();
    } catch (err) {
      console.warn('stats:', err);
    }
    if (call.room === room) scheduleStats(room);
  }, STATS_INTERVAL_MS);
}

// ---- own media ------------------------------------------------------------------------

/** Tells peers (one, or all) whether this tab is muted or has its camera off. @param {string} [peer] */
function announceMedia(peer) {
  const room = call.room;
  if (!room) return;
  const msg = { type: 'media', muted: call.muted || !call.media.audio, cameraOff: call.cameraOff || !call.media.video };
  if (peer) room.sendTo(peer, msg);
  else room.send(msg);
}

function renderControls() {
  ui.mute.disabled = !call.media.audio;
  ui.mute.textContent = !call.media.audio ? 'No microphone' : call.muted ? 'Unmute' : 'Mute';
  ui.mute.setAttribute('aria-pressed', String(call.muted));
  ui.camera.textContent = !call.media.video ? 'Start camera' : call.cameraOff ? 'Start camera' : 'Stop camera';
  ui.camera.setAttribute('aria-pressed', String(call.cameraOff));
  renderSelfTile();
}

function toggleMute() {
  if (!call.localStream || !call.media.audio) return;
  call.muted = !call.muted;
  for (const tr of call.localStream.getAudioTracks()) tr.enabled = !call.muted;
  announceMedia();
  renderControls();
}

async function toggleCamera() {
  if (call.media.video && call.localStream) {
    call.cameraOff = !call.cameraOff;
    for (const tr of call.localStream.getVideoTracks()) tr.enabled = !call.cameraOff;
    announceMedia();
    renderControls();
    return;
  }
  // Joined without a camera: try to start one now and send it too.
  const client = call.client;
  ui.camera.disabled = true;
  try {
    const cam = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } } });
    if (call.client !== client || !client) {
      // The call ended (or another began) while the camera opened: not ours to send.
      for (const tr of cam.getTracks()) tr.stop();
      return;
    }
    const stream = new MediaStream([...(call.localStream?.getAudioTracks() ?? []), ...cam.getVideoTracks()]);
    call.localStream = stream;
    call.media.video = true;
    call.media.error = null;
    call.cameraOff = false;
    ui.mediaNotice.hidden = true;
    const self = tiles.get('');
    if (self) attach(self, stream);
    call.room?.publish(stream);
    announceMedia();
  } catch (err) {
    if (call.client !== client) return;
    const m = mediaError(err);
    setError({ code: m.code, message: m.message }, m.title);
  } finally {
    ui.camera.disabled = false;
    renderControls();
  }
}

function stopMedia() {
  for (const tr of call.localStream?.getTracks() ?? []) tr.stop();
  call.localStream = null;
  call.media.video = false;
  call.media.audio = false;
}

// ---- the session ------------------------------------------------------------------------

/**
 * @param {string} roomName
 * @param {string} name
 * @param {{video: boolean, audio: boolean, relay: boolean}} want
 */
async function join(roomName, name, want) {
  setError(null);
  // Nothing from an earlier call may be sent in this one.
  stopMedia();
  call.relayOnly = want.relay;
  call.roomName = roomName;
  call.name = name;
  ui.join.disabled = true;
  ui.mediaNotice.hidden = true;
  call.media = { video: false, audio: false, error: null };
  call.muted = false;
  call.cameraOff = false;

  if (want.video || want.audio) {
    setState('media', 'Opening camera…');
    try {
      const { stream, missing } = await openMedia(want.video, want.audio);
      call.localStream = stream;
      call.media.video = stream.getVideoTracks().length > 0;
      call.media.audio = stream.getAudioTracks().length > 0;
      if (missing) {
        call.media.error = { code: 'no_device', message: `No ${missing} was found: joining with the ${missing === 'camera' ? 'microphone' : 'camera'} only.` };
        ui.mediaNotice.textContent = call.media.error.message;
        ui.mediaNotice.hidden = false;
      }
    } catch (err) {
      const m = mediaError(err);
      call.media.error = { code: m.code, message: m.message };
      setError({ code: m.code, message: m.message }, m.title);
      ui.joinNoMedia.hidden = false;
      setState('idle', 'Not connected');
      ui.join.disabled = false;
      return;
    }
  } else {
    call.media.error = null;
    ui.mediaNotice.textContent = 'You joined without camera and microphone: others see your name only. Start your camera below at any time.';
    ui.mediaNotice.hidden = false;
  }

  setState('connecting', 'Getting a token…');
  let auth;
  try {
    auth = await obtainToken(name, ui.tokenBox, ui.token);
  } catch (err) {
    stopMedia();
    const [title, text] = explain(err, roomName);
    setError({ code: /** @type {any} */ (err).code, message: text }, title);
    setState('error', 'Not connected');
    ui.join.disabled = false;
    return;
  }

  ui.roomName.textContent = roomName;
  ui.relayNote.hidden = !want.relay;
  ui.invite.href = inviteURL(roomName) + (want.relay ? '&relay=1' : '');
  ui.joinView.hidden = true;
  ui.roomView.hidden = false;
  setState('connecting', 'Connecting…');
  renderControls();
  renderPeers();

  const client = createClient(Switchboard, auth, {
    current: () => call.client,
    inRoom: () => !!call.room,
    connected: (c) => {
      call.peerId = c.id;
      // Back on the server, but not in the call until the room is rejoined
      // (the room's 'joined' event below).
      if (call.room) {
        setState('reconnecting', 'Rejoining the call…');
        renderSelfTile();
      }
    },
    status: (state, text) => {
      setState(/** @type {any} */ (state), text);
      renderSelfTile();
    },
    error: (err) => {
      const [title, text] = explain(err, roomName);
      setError({ code: err.code, message: text }, title);
    },
    fatal: () => fail(),
  }, want.relay ? { iceTransportPolicy: 'relay' } : undefined);
  call.client = client;

  let room;
  try {
    room = await client.join(roomName);
  } catch (err) {
    if (call.client !== client) return;
    const [title, text] = explain(err, roomName);
    setError({ code: /** @type {any} */ (err).code, message: text }, title);
    fail();
    return;
  }
  if (call.client !== client) return;
  if (typeof room.publish !== 'function' || typeof room.getStats !== 'function') {
    setError({ code: 'sdk_too_old', message: 'This version of the SDK cannot send media (no room.publish).' }, 'Cannot call');
    fail();
    return;
  }
  call.room = room;
  const joined = () => {
    call.peerId = client.id;
    call.mode = room.mode ?? 'mesh';
    call.auto = room.auto === true;
    setError(null);
    setState('joined', 'Connected');
  };
  joined();

  // Every (re)join: the first one again, then each after a reconnection.
  room.on('joined', () => {
    if (call.room !== room || !room.joined) return;
    joined();
    renderControls();
    renderPeers();
  });
  room.on('peer-joined', () => renderPeers());
  room.on('peer-left', (info) => {
    linkStates.delete(info.peer);
    renderPeers();
  });
  room.on('peer-state', (peer, state) => {
    // The event comes for connection type changes too: act on new states only.
    const before = linkStates.get(peer);
    linkStates.set(peer, state);
    if (state === 'connected' && before !== 'connected') announceMedia(peer);
    renderPeers();
  });
  room.on('track', () => renderPeers());
  room.on('track-ended', () => renderPeers());
  // Auto rooms: this tab finished a switch the server announced.
  room.on('mode', (info) => {
    if (call.room !== room) return;
    call.mode = info.mode;
    call.switches.push({ ...info, failed: [...info.failed], at: Date.now() });
    if (call.switches.length > MAX_ERRORS) call.switches.shift();
    const n = info.failed.length;
    showModeNotice(
      (info.mode === 'sfu' ? 'Moved to the server: the call now goes through the SFU.' : 'Back to peer-to-peer: the call goes directly between you again.') +
        (n > 0 ? ` ${n} ${n === 1 ? 'peer stays' : 'peers stay'} on the old path.` : ''),
    );
    renderPeers();
  });
  room.on('speakers', (peers) => {
    call.speakers = [...peers];
    renderSelfTile();
    renderPeers();
  });
  room.on('layer', (peer, _track, layer, paused) => {
    const p = peerState.get(peer);
    if (!p) return;
    p.layer = layer;
    p.paused = paused;
    renderPeers();
  });
  room.on('data', (peer, data) => {
    const m = /** @type {{type?: unknown, muted?: unknown, cameraOff?: unknown}|null} */ (data);
    const p = peerState.get(peer);
    if (!p || !m || typeof m !== 'object' || m.type !== 'media') return;
    p.muted = m.muted === true;
    p.cameraOff = m.cameraOff === true;
    renderPeers();
  });
  room.on('error', (err) => console.warn('switchboard room:', err));
  if (call.localStream) room.publish(call.localStream);
  // Links that opened before the listeners were there (none in practice).
  for (const p of room.peers.values()) {
    if (p.state !== 'connected' || linkStates.has(p.peer)) continue;
    linkStates.set(p.peer, p.state);
    announceMedia(p.peer);
  }
  renderControls();
  renderPeers();
  scheduleStats(room);
}

/**
 * Shows the notice of a switch for a few seconds.
 * @param {string} text
 */
function showModeNotice(text) {
  clearTimeout(noticeTimer);
  ui.modeNotice.textContent = text;
  ui.modeNotice.hidden = false;
  noticeTimer = setTimeout(() => {
    noticeTimer = undefined;
    ui.modeNotice.hidden = true;
  }, SWITCH_NOTICE_MS);
}

/** The client gave up: back to the join form, keeping the error in view. */
function fail() {
  teardown();
  setState('error', 'Not connected');
  ui.roomView.hidden = true;
  ui.joinView.hidden = false;
  ui.join.disabled = false;
}

function teardown() {
  clearTimeout(statsTimer);
  statsTimer = undefined;
  linkStates.clear();
  const client = call.client;
  call.client = null;
  call.room = null;
  call.peerId = null;
  call.mode = null;
  call.auto = false;
  call.switches = [];
  clearTimeout(noticeTimer);
  noticeTimer = undefined;
  ui.modeNotice.hidden = true;
  call.speakers = [];
  client?.disconnect();
  stopMedia();
  for (const t of tiles.values()) {
    t.unobserve?.();
    t.video.srcObject = null;
  }
  tiles.clear();
  peerState.clear();
  renderPeers();
}

function leave() {
  teardown();
  setError(null);
  setState('idle', 'Not connected');
  ui.roomView.hidden = true;
  ui.joinView.hidden = false;
  ui.join.disabled = false;
  ui.room.focus();
}

// ---- wiring ---------------------------------------------------------------------------

const params = new URLSearchParams(location.search);
ui.room.value = params.get('room') || 'call';
ui.name.value = params.get('name') || `guest-${Math.random().toString(36).slice(2, 6)}`;
if (params.get('camera') === '0') ui.useCamera.checked = false;
if (params.get('mic') === '0') ui.useMic.checked = false;
if (params.get('relay') === '1') ui.forceRelay.checked = true;
if (params.has('token')) {
  ui.tokenBox.hidden = false;
  ui.token.value = params.get('token') ?? '';
}

/** @param {boolean} withMedia */
function submit(withMedia) {
  const roomName = ui.room.value.trim();
  const name = ui.name.value.trim();
  if (!roomName || !name) {
    ui.joinForm.reportValidity();
    return;
  }
  const relay = ui.forceRelay.checked;
  join(roomName, name, withMedia ? { video: ui.useCamera.checked, audio: ui.useMic.checked, relay } : { video: false, audio: false, relay });
}

ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  submit(true);
});
ui.joinNoMedia.addEventListener('click', () => submit(false));
ui.mute.addEventListener('click', () => toggleMute());
ui.camera.addEventListener('click', () => toggleCamera());
ui.leave.addEventListener('click', () => leave());
window.addEventListener('pagehide', () => teardown());

if (params.get('autojoin') === '1') ui.joinForm.requestSubmit();

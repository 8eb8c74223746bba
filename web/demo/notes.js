// The shared notepad: one text per room, edited by everyone in it, synced
// over the rooms' data channels.
//
// Consistency: last-writer-wins on the whole document. Every local edit takes
// the Lamport clock one past the highest seen and is sent, with the full text,
// to every peer as {type: 'notes', text, clock, site, name}. A receiver keeps
// the text with the highest (clock, site) pair, site being the writer's peer
// id, so every tab settles on the same text whatever the order of delivery.
// A peer whose data channel opens gets the full state from each peer already
// there (late joiners catch up; a tab that had edits of its own while apart
// merges by the same rule).
//
// Peers are not trusted with the clock: an update whose clock is 2^52 or
// more, or more than MAX_CLOCK_STEP past the highest clock seen here, is
// dropped (one huge clock would otherwise win forever and, at 2^53, stop the
// clock). The site names the writer only when it is the peer that sent the
// update; a catch-up relays someone else's text, and shows as "via" the
// sender.
//
// The document belongs to the room: every join starts from an empty one
// and takes what the peers there have.
//
// State for tests lives in window.notes; notes.snapshot() returns it as plain
// JSON. <body data-state> mirrors notes.state.

import { Switchboard } from '/sdk/switchboard.js';
import {
  $, el, displayName, initials, setStatus, showError, obtainToken, explain, inviteURL, createClient,
} from '/common.js';

/** @typedef {import('/sdk/switchboard.js').Room} Room */
/** @typedef {{clock: number, site: string}} Version */
/** @typedef {{type: 'notes', text: string, clock: number, site: string, name?: string}} NotesMessage */

const MAX_TEXT = 20000;
/** How far past the highest clock seen a peer's clock may be. */
const MAX_CLOCK_STEP = 1e6;
/** Clocks from 2^52 up are refused: +1 must stay exact (2^53 + 1 === 2^53). */
const CLOCK_LIMIT = 2 ** 52;

const ui = {
  joinView: $('join-view'),
  joinForm: /** @type {HTMLFormElement} */ ($('join-form')),
  room: /** @type {HTMLInputElement} */ ($('room')),
  name: /** @type {HTMLInputElement} */ ($('name')),
  tokenBox: $('token-box'),
  token: /** @type {HTMLTextAreaElement} */ ($('token')),
  join: /** @type {HTMLButtonElement} */ ($('join')),
  roomView: $('room-view'),
  roomName: $('room-name'),
  leave: $('leave'),
  selfName: $('self-name'),
  peerId: $('peer-id'),
  peerCount: $('peer-count'),
  peerList: $('peer-list'),
  noPeers: $('no-peers'),
  invite: /** @type {HTMLAnchorElement} */ ($('invite')),
  pad: /** @type {HTMLTextAreaElement} */ ($('pad')),
  docInfo: $('doc-info'),
  docVersion: $('doc-version'),
  charCount: $('char-count'),
  syncInfo: $('sync-info'),
};

/** Notepad state, readable from tests and the console. */
const notes = {
  /** @type {'idle'|'connecting'|'joined'|'reconnecting'|'error'} */
  state: 'idle',
  /** @type {string|null} */
  peerId: null,
  /** @type {string|null} */
  roomName: null,
  /** @type {string|null} */
  name: null,
  /** @type {{peer: string, name: string, state: string}[]} */
  peers: [],
  /** The document as this tab has it. */
  text: '',
  /** @type {Version} stamp of the text: clock 0 means nobody has written yet */
  version: { clock: 0, site: '' },
  /** Highest Lamport clock seen. */
  clock: 0,
  /**
   * Who wrote the current text: name is the writer's when the writer sent it
   * (relayed false), else "via <sender>" (relayed true, a catch-up).
   * @type {{peer: string, name: string, relayed: boolean, at: number}|null}
   */
  lastEditor: null,
  /** Updates received from peers, how many of them won, and how many were refused. */
  received: 0,
  applied: 0,
  rejected: 0,
  /** Whether incoming messages are held back (pause(), for tests), and how many are. */
  paused: false,
  held: 0,
  /** Full-state messages sent to peers whose link opened. */
  catchUpsSent: 0,
  /** @type {{code: string, message: string, title: string}|null} */
  error: null,
  /** @type {Switchboard|null} */
  client: null,
  /** @type {Room|null} */
  room: null,
  snapshot() {
    const { state, peerId, roomName, name, peers, text, version, clock, lastEditor, received, applied, rejected, paused, held, catchUpsSent, error } = notes;
    return structuredClone({ state, peerId, roomName, name, peers, text, version, clock, lastEditor, received, applied, rejected, paused, held, catchUpsSent, error });
  },
  /** Test hook: hold incoming messages back (queued, in order) until resume(). */
  pause() {
    notes.paused = true;
  },
  /** Test hook: apply the held messages, in the order they came, and stop holding. */
  resume() {
    notes.paused = false;
    const queued = heldMessages.splice(0);
    notes.held = 0;
    for (const [peer, data] of queued) receive(peer, data);
  },
};
/** @type {any} */ (window).notes = notes;

/** @type {[string, unknown][]} messages held back while notes.paused */
const heldMessages = [];
/** @type {Map<string, string>} the last link state seen per peer */
const peerStates = new Map();

/** @param {Version} a @param {Version} b whether a is newer than b */
function newer(a, b) {
  return a.clock > b.clock || (a.clock === b.clock && a.site > b.site);
}

// ---- rendering ------------------------------------------------------------------

/** @param {typeof notes.state} state @param {string} text */
function setState(state, text) {
  notes.state = state;
  setStatus(state, text);
}

/** @param {any} err @param {string} [title] */
function setError(err, title) {
  notes.error = showError(err, title);
}

function renderPeers() {
  const room = notes.room;
  notes.peers = room ? [...room.peers.values()].map((p) => ({ peer: p.peer, name: displayName(p), state: p.state })) : [];
  ui.peerList.replaceChildren(
    ...notes.peers.map((p) => {
      const li = el('li', 'peer');
      li.dataset.peer = p.peer;
      li.dataset.state = p.state;
      const who = el('div', 'peer-who');
      who.append(el('span', 'peer-name', p.name), el('code', 'peer-id', p.peer));
      li.append(el('span', 'avatar', initials(p.name)), who, el('span', 'badge', p.state === 'connected' ? 'in sync' : p.state));
      return li;
    }),
  );
  ui.peerCount.textContent = String(notes.peers.length);
  ui.noPeers.hidden = notes.peers.length > 0;
  renderInfo();
}

function renderInfo() {
  const n = notes.text.length;
  ui.charCount.textContent = `${n.toLocaleString()} character${n === 1 ? '' : 's'}`;
  const ed = notes.lastEditor;
  if (!ed) {
    ui.docInfo.textContent = notes.text ? 'Not edited yet' : 'Empty document';
  } else {
    const who = ed.relayed ? ed.name : `by ${ed.peer === notes.peerId ? 'you' : ed.name}`;
    ui.docInfo.textContent = `Last edit ${who} at ${new Date(ed.at).toLocaleTimeString()}`;
  }
  ui.docVersion.textContent = notes.version.clock ? `v${notes.version.clock}` : '';
  const open = notes.peers.filter((p) => p.state === 'connected').length;
  ui.syncInfo.textContent = !notes.room
    ? ''
    : open === 0
      ? 'Only in this tab'
      : `Live with ${open} peer${open === 1 ? '' : 's'}`;
}

/**
 * Puts text into the textarea, keeping the caret where it was relative to
 * the unchanged text around the edit.
 * @param {string} text
 */
function setPadText(text) {
  const pad = ui.pad;
  const old = pad.value;
  if (old === text) return;
  const focused = document.activeElement === pad;
  const [start, end] = [pad.selectionStart, pad.selectionEnd];
  let prefix = 0;
  const max = Math.min(old.length, text.length);
  while (prefix < max && old[prefix] === text[prefix]) prefix++;
  const delta = text.length - old.length;
  const shift = (/** @type {number} */ pos) => (pos <= prefix ? pos : Math.max(prefix, Math.min(text.length, pos + delta)));
  pad.value = text;
  if (focused) pad.setSelectionRange(shift(start), shift(end));
}

// ---- syncing --------------------------------------------------------------------

/** @returns {NotesMessage} */
function currentMessage() {
  return { type: 'notes', text: notes.text, clock: notes.version.clock, site: notes.version.site, name: notes.name ?? undefined };
}

/** A local edit: stamp it and send it to everyone. */
function localEdit() {
  if (!notes.room || !notes.peerId) {
    // Not in a room (the pad is read-only then): nothing to stamp it with.
    setPadText(notes.text);
    return;
  }
  const text = ui.pad.value.slice(0, MAX_TEXT);
  if (text === notes.text) return;
  notes.clock += 1;
  notes.text = text;
  notes.version = { clock: notes.clock, site: notes.peerId };
  notes.lastEditor = { peer: notes.peerId, name: notes.name ?? '', relayed: false, at: Date.now() };
  notes.room?.send(currentMessage());
  renderInfo();
}

/** A message from a peer's data channel. @param {string} peer @param {unknown} data */
function onData(peer, data) {
  if (notes.paused) {
    heldMessages.push([peer, data]);
    notes.held = heldMessages.length;
    return;
  }
  receive(peer, data);
}

/** @param {string} peer @param {unknown} data */
function receive(peer, data) {
  const m = /** @type {Partial<NotesMessage>|null} */ (data);
  if (!m || typeof m !== 'object' || m.type !== 'notes') return;
  if (typeof m.text !== 'string' || typeof m.site !== 'string') return;
  const clock = m.clock;
  if (typeof clock !== 'number' || !Number.isSafeInteger(clock) || clock < 1) return;
  notes.received++;
  if (clock >= CLOCK_LIMIT || clock > notes.clock + MAX_CLOCK_STEP) {
    notes.rejected++;
    console.warn(`notes: update from ${peer} refused: clock ${clock} is too far ahead of ${notes.clock}`);
    return;
  }
  const v = { clock, site: m.site };
  notes.clock = Math.max(notes.clock, v.clock);
  if (!newer(v, notes.version)) return;
  notes.applied++;
  notes.version = v;
  notes.text = m.text.slice(0, MAX_TEXT);
  const info = notes.room?.peers.get(peer);
  const sender = info ? displayName(info) : `peer ${peer.slice(0, 6)}`;
  if (v.site === peer) {
    // The writer itself: its own name (the one the server vouches for first).
    const name = info ? sender : typeof m.name === 'string' && m.name ? m.name.slice(0, 100) : sender;
    notes.lastEditor = { peer: v.site, name, relayed: false, at: Date.now() };
  } else {
    // Someone else's text passed on in a catch-up: only the sender is known.
    notes.lastEditor = { peer: v.site, name: `via ${sender}`, relayed: true, at: Date.now() };
  }
  setPadText(notes.text);
  renderInfo();
}

/** A link opened: give the peer the whole document, if there is one. @param {string} peer */
function catchUp(peer) {
  if (!notes.room || notes.version.clock === 0) return;
  if (notes.room.sendTo(peer, currentMessage())) notes.catchUpsSent++;
}

// ---- the session ----------------------------------------------------------------

/** Forgets the document: it lived in the room left (or failed). */
function resetDocument() {
  notes.text = '';
  notes.version = { clock: 0, site: '' };
  notes.clock = 0;
  notes.lastEditor = null;
  notes.received = 0;
  notes.applied = 0;
  notes.rejected = 0;
  notes.catchUpsSent = 0;
  heldMessages.length = 0;
  notes.held = 0;
  ui.pad.value = '';
  renderInfo();
}

/** @param {string} roomName @param {string} name */
async function join(roomName, name) {
  setError(null);
  // A new room's document starts from what the peers there have, never
  // from the text of the room before (left, or lost to an error).
  resetDocument();
  ui.pad.readOnly = true;
  notes.roomName = roomName;
  notes.name = name;
  ui.join.disabled = true;
  setState('connecting', 'Getting a token…');

  let auth;
  try {
    auth = await obtainToken(name, ui.tokenBox, ui.token);
  } catch (err) {
    const [title, text] = explain(err, roomName);
    setError({ code: /** @type {any} */ (err).code, message: text }, title);
    setState('error', 'Not connected');
    ui.join.disabled = false;
    return;
  }

  ui.roomName.textContent = roomName;
  ui.selfName.textContent = name;
  ui.peerId.textContent = '—';
  ui.invite.href = inviteURL(roomName);
  ui.joinView.hidden = true;
  ui.roomView.hidden = false;
  setState('connecting', 'Connecting…');

  const client = createClient(Switchboard, auth, {
    current: () => notes.client,
    inRoom: () => !!notes.room,
    connected: (c) => {
      notes.peerId = c.id;
      ui.peerId.textContent = c.id ?? '—';
      if (c.name) ui.selfName.textContent = c.name;
      // Back on the server, but not in the room until it is rejoined (the
      // room's 'joined' event below).
      if (notes.room) setState('reconnecting', 'Rejoining the room…');
    },
    status: (state, text) => setState(/** @type {any} */ (state), text),
    error: (err) => {
      const [title, text] = explain(err, roomName);
      setError({ code: err.code, message: text }, title);
    },
    fatal: () => fail(),
  });
  notes.client = client;

  let room;
  try {
    room = await client.join(roomName);
  } catch (err) {
    if (notes.client !== client) return;
    const [title, text] = explain(err, roomName);
    setError({ code: /** @type {any} */ (err).code, message: text }, title);
    fail();
    return;
  }
  if (notes.client !== client) return;
  notes.room = room;
  const joined = () => {
    notes.peerId = client.id;
    ui.peerId.textContent = client.id ?? '—';
    setError(null);
    setState('joined', 'Connected');
  };
  joined();

  // Every (re)join: the first one again, then each after a reconnection.
  room.on('joined', () => {
    if (notes.room === room && room.joined) joined();
  });
  room.on('peer-joined', () => renderPeers());
  room.on('peer-left', (info) => {
    peerStates.delete(info.peer);
    renderPeers();
  });
  room.on('peer-state', (peer, state) => {
    renderPeers();
    // The event comes for connection type changes too: act on new states only.
    const before = peerStates.get(peer);
    peerStates.set(peer, state);
    if (state === 'connected' && before !== 'connected') catchUp(peer);
  });
  room.on('data', onData);
  room.on('error', (err) => console.warn('switchboard room:', err));
  renderPeers();
  // Links that opened before the listeners were there (none in practice).
  for (const p of room.peers.values()) {
    if (!peerStates.has(p.peer)) peerStates.set(p.peer, p.state);
    if (p.state === 'connected') catchUp(p.peer);
  }
  ui.pad.readOnly = false;
  ui.pad.focus();
}

function fail() {
  teardown();
  setState('error', 'Not connected');
  ui.roomView.hidden = true;
  ui.joinView.hidden = false;
  ui.join.disabled = false;
}

function teardown() {
  const client = notes.client;
  notes.client = null;
  notes.room = null;
  notes.peerId = null;
  ui.pad.readOnly = true;
  peerStates.clear();
  heldMessages.length = 0;
  notes.held = 0;
  client?.disconnect();
  renderPeers();
}

function leave() {
  teardown();
  // The text lived in the room: a new join starts from what the others have.
  resetDocument();
  setError(null);
  setState('idle', 'Not connected');
  ui.roomView.hidden = true;
  ui.joinView.hidden = false;
  ui.join.disabled = false;
  ui.room.focus();
}

// ---- wiring -----------------------------------------------------------------------

const params = new URLSearchParams(location.search);
ui.room.value = params.get('room') || 'notes';
ui.name.value = params.get('name') || `guest-${Math.random().toString(36).slice(2, 6)}`;
if (params.has('token')) {
  ui.tokenBox.hidden = false;
  ui.token.value = params.get('token') ?? '';
}

ui.joinForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const roomName = ui.room.value.trim();
  const name = ui.name.value.trim();
  if (!roomName || !name) return;
  join(roomName, name);
});
ui.pad.addEventListener('input', () => localEdit());
ui.leave.addEventListener('click', () => leave());

if (params.get('autojoin') === '1') ui.joinForm.requestSubmit();

// The Switchboard demo: join a room, see its peers, chat over data channels.
//
// State for tests and curious people lives in window.demo; demo.snapshot()
// returns it as plain JSON. <body data-state> mirrors demo.state, and every
// peer in the list carries data-peer and data-state.

import { Switchboard } from '/sdk/switchboard.js';
import {
  $,
  DemoError,
  displayName,
  el,
  explain as explainFor,
  fetchDevToken,
  initials,
  showError as showErrorBox,
} from '/common.js';

/** @typedef {import('/sdk/switchboard.js').Room} Room */
/** @typedef {{from: string, name: string, text: string, self: boolean, at: number, delivered?: number}} ChatMessage */
/** @typedef {'idle'|'connecting'|'joined'|'reconnecting'|'error'} DemoState */

/** How many chat messages (and, apart from them, notices) the log keeps. */
const MAX_MESSAGES = 500;

const ui = {
  status: $('status'),
  statusText: $('status-text'),
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
  messages: $('messages'),
  chatEmpty: $('chat-empty'),
  chatForm: /** @type {HTMLFormElement} */ ($('chat-form')),
  message: /** @type {HTMLInputElement} */ ($('message')),
};

/** Demo state, readable from tests and the console. */
const demo = {
  /** @type {DemoState} */
  state: 'idle',
  /** @type {string|null} own peer id */
  peerId: null,
  /** @type {string|null} */
  roomName: null,
  /** @type {string|null} own display name */
  name: null,
  /** @type {{peer: string, name: string, user?: string, state: string}[]} */
  peers: [],
  /** @type {ChatMessage[]} the last MAX_MESSAGES messages, oldest first */
  messages: [],
  /** @type {{code: string, message: string}|null} */
  error: null,
  /** @type {Switchboard|null} */
  client: null,
  /** @type {Room|null} */
  room: null,
  /** Everything above but the live objects, as plain data. */
  snapshot() {
    const { state, peerId, roomName, name, peers, messages, error } = demo;
    return structuredClone({ state, peerId, roomName, name, peers, messages, error });
  },
};
/** @type {any} */ (window).demo = demo;

// ---- state and rendering ----------------------------------------------------

/** @param {DemoState} state @param {string} text */
function setState(state, text) {
  demo.state = state;
  document.body.dataset.state = state;
  ui.status.dataset.state = state;
  ui.statusText.textContent = text;
}

/** @param {{code?: string, message: string}|null} err @param {string} [title] */
function showError(err, title = 'Something went wrong') {
  const shown = showErrorBox(err, title);
  demo.error = shown ? { code: shown.code, message: shown.message } : null;
}

function renderPeers() {
  const room = demo.room;
  demo.peers = room
    ? [...room.peers.values()].map((p) => ({ peer: p.peer, name: displayName(p), user: p.user, state: p.state }))
    : [];
  ui.peerList.replaceChildren(...demo.peers.map(peerItem));
  ui.peerCount.textContent = String(demo.peers.length);
  ui.noPeers.hidden = demo.peers.length > 0;
}

/** @param {{peer: string, name: string, state: string}} p */
function peerItem(p) {
  const li = el('li', 'peer');
  li.dataset.peer = p.peer;
  li.dataset.state = p.state;
  const who = el('div', 'peer-who');
  who.append(el('span', 'peer-name', p.name), el('code', 'peer-id', p.peer));
  who.title = `${p.name} (${p.peer})`;
  li.append(el('span', 'avatar', initials(p.name)), who, el('span', 'badge', p.state));
  return li;
}

/** @type {WeakMap<ChatMessage, HTMLElement>} each message's item in the log */
const messageItems = new WeakMap();

/** @param {ChatMessage} m */
function addMessage(m) {
  demo.messages.push(m);
  const li = el('li', m.self ? 'msg self' : 'msg');
  const meta = el('div', 'msg-meta');
  meta.append(el('span', 'msg-name', m.self ? 'You' : m.name), el('time', 'msg-time', clock(m.at)));
  if (m.self && m.delivered === 0) meta.append(el('span', 'msg-warn', 'not delivered: no peer connected'));
  li.append(meta, el('div', 'msg-text', m.text));
  messageItems.set(m, li);
  appendToLog(li);
  // The oldest go, from the state and from the page.
  for (const old of demo.messages.splice(0, Math.max(0, demo.messages.length - MAX_MESSAGES))) messageItems.get(old)?.remove();
}

/** @param {string} text */
function addNotice(text) {
  appendToLog(el('li', 'notice', text));
  const notices = ui.messages.querySelectorAll(':scope > .notice');
  for (let i = 0; i < notices.length - MAX_MESSAGES; i++) notices[i].remove();
}

/** @param {HTMLElement} li */
function appendToLog(li) {
  const log = ui.messages;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  ui.chatEmpty.hidden = true;
  if (atBottom) log.scrollTop = log.scrollHeight;
}

/** @param {number} t */
function clock(t) {
  return new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// ---- the session --------------------------------------------------------------

/** Why the client reports an error, in words for people. @param {any} err */
const explain = (err) => explainFor(err, demo.roomName ?? undefined);

/**
 * @param {string} roomName
 * @param {string} name
 */
async function join(roomName, name) {
  showError(null);
  demo.roomName = roomName;
  demo.name = name;
  demo.messages = [];
  ui.messages.replaceChildren();
  ui.chatEmpty.hidden = false;
  ui.join.disabled = true;
  setState('connecting', 'Getting a token…');

  const pasted = ui.tokenBox.hidden ? '' : ui.token.value.trim();
  let token;
  /** @type {(() => Promise<string>)|undefined} */
  let getToken;
  try {
    if (pasted) {
      token = pasted;
    } else {
      token = await fetchDevToken(name);
      getToken = () => fetchDevToken(name);
    }
  } catch (err) {
    const e = /** @type {DemoError} */ (err);
    if (e.code === 'no_dev_token') {
      ui.tokenBox.hidden = false;
      ui.token.focus();
      showError(e, 'Token needed');
    } else {
      showError(e, 'Cannot join');
    }
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
  renderPeers();
  setState('connecting', 'Connecting…');

  const client = new Switchboard({ auth: { token }, getToken });
  demo.client = client;
  client.on('connect', () => {
    if (demo.client !== client) return;
    demo.peerId = client.id;
    ui.peerId.textContent = client.id ?? '—';
    if (client.name) ui.selfName.textContent = client.name;
    if (demo.room) {
      showError(null);
      setState('joined', 'Connected');
    }
  });
  client.on('disconnect', (reason) => {
    if (demo.client === client && client.active) setState('reconnecting', `Connection lost (${reason}), reconnecting…`);
  });
  client.on('reconnect_attempt', (n) => {
    if (demo.client === client) setState(demo.room ? 'reconnecting' : 'connecting', `Reconnecting (attempt ${n})…`);
  });
  client.on('error', (err) => {
    if (demo.client !== client) return;
    const [title, text] = explain(err);
    showError({ code: err.code, message: text }, title);
    if (!client.active) fail();
  });
  client.on('reconnect_failed', () => {
    if (demo.client === client) fail();
  });

  let room;
  try {
    room = await client.join(roomName);
  } catch (err) {
    if (demo.client !== client) return; // left meanwhile
    const [title, text] = explain(err);
    showError({ code: /** @type {any} */ (err).code, message: text }, title);
    fail();
    return;
  }
  if (demo.client !== client) return;
  demo.room = room;
  demo.peerId = client.id;
  ui.peerId.textContent = client.id ?? '—';
  showError(null);
  setState('joined', 'Connected');

  room.on('peer-joined', (p) => {
    renderPeers();
    addNotice(`${displayName(p)} joined`);
  });
  room.on('peer-left', (p) => {
    renderPeers();
    addNotice(`${displayName(p)} left`);
  });
  room.on('peer-state', () => renderPeers());
  room.on('data', (peer, data) => {
    const msg = /** @type {{type?: unknown, text?: unknown}|null} */ (data);
    if (!msg || typeof msg !== 'object' || msg.type !== 'chat' || typeof msg.text !== 'string') return;
    const info = room.peers.get(peer);
    addMessage({ from: peer, name: info ? displayName(info) : displayName({ peer }), text: msg.text, self: false, at: Date.now() });
  });
  room.on('error', (err) => console.warn('switchboard room:', err));
  renderPeers();
  const here = demo.peers.map((p) => p.name);
  addNotice(`You joined “${roomName}”. ${here.length ? `${here.join(', ')} ${here.length === 1 ? 'is' : 'are'} here.` : 'Nobody else is here yet.'}`);
  ui.message.focus();
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
  const client = demo.client;
  demo.client = null; // from here on the client's events are ignored
  demo.room = null;
  demo.peerId = null;
  client?.disconnect();
  renderPeers();
}

function leave() {
  // Closing the connection takes the peer out of every room on the server.
  teardown();
  showError(null);
  setState('idle', 'Not connected');
  ui.roomView.hidden = true;
  ui.joinView.hidden = false;
  ui.join.disabled = false;
  ui.room.focus();
}

function sendMessage() {
  const text = ui.message.value.trim();
  const room = demo.room;
  if (!text || !room) return;
  const delivered = room.send({ type: 'chat', text });
  addMessage({ from: demo.peerId ?? '', name: demo.name ?? '', text, self: true, at: Date.now(), delivered });
  ui.message.value = '';
  ui.message.focus();
}

/** @param {string} roomName */
function inviteURL(roomName) {
  const u = new URL(location.href);
  u.search = '';
  u.searchParams.set('room', roomName);
  return u.href;
}

// ---- wiring -------------------------------------------------------------------

const params = new URLSearchParams(location.search);
ui.room.value = params.get('room') || 'lobby';
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
ui.chatForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  sendMessage();
});
ui.leave.addEventListener('click', () => leave());

if (params.get('autojoin') === '1') ui.joinForm.requestSubmit();

// The React example: pick a name, join a room, see who is there and how you
// are connected to them, chat over WebRTC data channels. Plain ES modules and
// React.createElement (as `h`), no JSX and no build step; React comes from
// the UMD builds in vendor/ (window.React, window.ReactDOM).
//
// Rendered inside <React.StrictMode>: in development every effect runs
// twice, and the page shows that the room is still joined once (see the
// "StrictMode check" panel, and window.example.stats).

import { sb, signIn } from './client.js';
import { roomStats, useRoom } from './useRoom.js';

const React = /** @type {any} */ (window).React;
const ReactDOM = /** @type {any} */ (window).ReactDOM;
const { useEffect, useRef, useState } = React;
const h = React.createElement;

// ---- state for tests and curious people --------------------------------------

/** window.example: what the page shows, as plain data (see snapshot()). */
const example = {
  /** @type {string} idle | connecting | joined | reconnecting | error */
  state: 'idle',
  /** @type {string|null} */
  name: null,
  /** @type {string|null} */
  roomName: null,
  /** @type {string|null} own peer id */
  self: null,
  /** @type {{peer: string, name?: string, user?: string, state: string, connectionType: string|null}[]} */
  peers: [],
  /** @type {{from: string, name: string, text: string, self: boolean}[]} */
  messages: [],
  /** @type {{code: string, message: string}|null} */
  error: null,
  /** signaling connections made ("connect" events) and how many were reconnects */
  connects: 0,
  reconnects: 0,
  /** what useRoom did: acquires/releases (StrictMode doubles), joins, leaves */
  stats: roomStats,
  /** the one Switchboard client */
  client: sb,
  /** the SDK's Room, when joined */
  room: /** @type {any} */ (null),
  snapshot() {
    const { state, name, roomName, self, peers, messages, error, connects, reconnects, stats } = example;
    return structuredClone({ state, name, roomName, self, peers, messages, error, connects, reconnects, stats: { ...stats } });
  },
};
/** @type {any} */ (window).example = example;

sb.on('connect', () => example.connects++);
sb.on('reconnect', () => example.reconnects++);

// ---- helpers -------------------------------------------------------------------

const GUESTS = ['Ada', 'Grace', 'Alan', 'Linus', 'Barbara', 'Ken', 'Margaret', 'Dennis', 'Radia', 'Vint'];

function guestName() {
  return GUESTS[Math.floor(Math.random() * GUESTS.length)];
}

/** @param {string} name */
function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const s = parts.length > 1 ? parts[0][0] + parts[1][0] : (parts[0] ?? '?').slice(0, 2);
  return s.toUpperCase();
}

/**
 * @param {number} n
 * @param {string} one
 * @param {string} many
 */
function plural(n, one, many) {
  return n === 1 ? one : many;
}

/** @param {number} at */
function clock(at) {
  return new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

const STATUS_TEXT = {
  idle: 'Not connected',
  connecting: 'Connecting…',
  joined: 'Connected',
  reconnecting: 'Reconnecting…',
  error: 'Error',
};

const CONNECTION_TEXT = { direct: 'direct', relayed: 'relayed (TURN)' };

// ---- components ------------------------------------------------------------------

/** The pill in the top bar. It uses the room too: the same handle, no second join. */
function Status({ roomName }) {
  const { state, peers } = useRoom(roomName);
  const text = state === 'joined' ? `Connected · ${peers.length} ${peers.length === 1 ? 'peer' : 'peers'}` : STATUS_TEXT[state];
  return h(
    'div',
    { id: 'status', className: 'status', 'data-state': state, role: 'status' },
    h('span', { className: 'dot', 'aria-hidden': 'true' }),
    h('span', { id: 'status-text' }, text),
  );
}

function JoinForm({ initialRoom, initialName, onJoin }) {
  const [room, setRoom] = useState(initialRoom);
  const [name, setName] = useState(initialName);
  const submit = (/** @type {Event} */ e) => {
    e.preventDefault();
    const r = room.trim();
    const n = name.trim();
    if (r && n) onJoin(r, n);
  };
  return h(
    'section',
    { id: 'join-view', className: 'card join-card' },
    h('h1', null, 'Join a room'),
    h(
      'p',
      { className: 'lead' },
      'A React app on Switchboard: the client is created once, in its own module, and a ',
      h('code', null, 'useRoom()'),
      ' hook joins the room. Open this page in a second tab to chat.',
    ),
    h(
      'form',
      { id: 'join-form', autoComplete: 'off', onSubmit: submit },
      h('label', { htmlFor: 'room' }, 'Room'),
      h('input', { id: 'room', required: true, maxLength: 64, spellCheck: false, value: room, onChange: (e) => setRoom(e.target.value) }),
      h('label', { htmlFor: 'name' }, 'Your name'),
      h('input', { id: 'name', required: true, maxLength: 40, spellCheck: false, value: name, onChange: (e) => setName(e.target.value) }),
      h('button', { id: 'join', type: 'submit' }, 'Join room'),
    ),
  );
}

function PeerItem({ peer }) {
  const name = peer.name || peer.user || peer.peer;
  const conn = peer.connectionType;
  return h(
    'li',
    { className: 'peer', 'data-peer': peer.peer, 'data-state': peer.state, 'data-connection': conn ?? '' },
    h('span', { className: 'avatar' }, initials(name)),
    h(
      'div',
      { className: 'peer-who', title: `${name} (${peer.peer})` },
      h('span', { className: 'peer-name' }, name),
      h('code', { className: 'peer-id' }, peer.peer),
    ),
    h(
      'div',
      { className: 'peer-badges' },
      h('span', { className: 'badge' }, peer.state),
      conn === undefined // an SDK without connectionType
        ? null
        : h(
            'span',
            { className: 'conn', 'data-connection': conn ?? 'none', title: 'ICE candidate pair in use' },
            conn ? CONNECTION_TEXT[conn] ?? conn : 'finding a route…',
          ),
    ),
  );
}

function Message({ m }) {
  return h(
    'li',
    { className: m.self ? 'msg self' : 'msg' },
    h(
      'div',
      { className: 'msg-meta' },
      h('span', { className: 'msg-name' }, m.self ? 'You' : m.name),
      h('time', { className: 'msg-time' }, clock(m.at)),
      m.self && m.delivered === 0 ? h('span', { className: 'msg-warn' }, 'not delivered: no peer connected') : null,
    ),
    h('div', { className: 'msg-text' }, m.text),
  );
}

function Chat({ messages, send, canSend }) {
  const [text, setText] = useState('');
  const log = useRef(null);
  useEffect(() => {
    const el = log.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [messages.length]);
  const submit = (/** @type {Event} */ e) => {
    e.preventDefault();
    const t = text.trim();
    if (!t) return;
    send(t);
    setText('');
  };
  return h(
    'section',
    { className: 'card chat' },
    h(
      'ol',
      { id: 'messages', className: 'messages', 'aria-live': 'polite', ref: log },
      messages.map((m) => h(Message, { key: m.id, m })),
    ),
    messages.length === 0
      ? h('p', { id: 'chat-empty', className: 'chat-empty' }, 'Messages travel straight to the other peers, not through the server.')
      : null,
    h(
      'form',
      { id: 'chat-form', className: 'composer', autoComplete: 'off', onSubmit: submit },
      h('input', {
        id: 'message',
        maxLength: 2000,
        placeholder: canSend ? 'Type a message' : 'Waiting for the room…',
        'aria-label': 'Message',
        value: text,
        onChange: (e) => setText(e.target.value),
      }),
      h('button', { id: 'send', type: 'submit', disabled: !canSend }, 'Send'),
    ),
  );
}

/** What the hook did: the point of the example, on screen. */
function StrictModeCheck({ connects }) {
  const s = roomStats;
  const ok = s.joins === 1 && connects <= 1;
  return h(
    'div',
    { className: 'strict-check', 'data-ok': String(ok) },
    h('div', { className: 'label' }, 'StrictMode check'),
    h(
      'p',
      null,
      h('strong', null, String(s.acquires)),
      plural(s.acquires, ' effect run', ' effect runs'),
      ', ',
      h('strong', null, String(s.releases)),
      plural(s.releases, ' cleanup', ' cleanups'),
      ' → ',
      h('strong', null, String(s.joins)),
      plural(s.joins, ' join', ' joins'),
      ', ',
      h('strong', null, String(connects)),
      plural(connects, ' connection', ' connections'),
    ),
    h(
      'p',
      { className: 'strict-note' },
      'React ran the effects twice; useRoom() joined once. The client lives in client.js, outside React.',
    ),
  );
}

function RoomView({ roomName, name, onLeave }) {
  const r = useRoom(roomName);
  const invite = `${location.pathname}?${new URLSearchParams({ room: roomName })}`;
  return h(
    'section',
    { id: 'room-view', className: 'room' },
    h(
      'aside',
      { className: 'card sidebar' },
      h(
        'div',
        { className: 'room-head' },
        h('div', null, h('div', { className: 'label' }, 'Room'), h('h2', { id: 'room-name' }, roomName)),
        h('button', { id: 'leave', type: 'button', className: 'secondary', onClick: onLeave }, 'Leave'),
      ),
      h(
        'dl',
        { className: 'me' },
        h('dt', null, 'You'),
        h('dd', { id: 'self-name' }, name),
        h('dt', null, 'Peer id'),
        h('dd', null, h('code', { id: 'peer-id' }, r.self ?? '—')),
      ),
      h('h3', null, 'Peers ', h('span', { id: 'peer-count', className: 'count' }, String(r.peers.length))),
      h(
        'ul',
        { id: 'peer-list', className: 'peer-list' },
        r.peers.map((p) => h(PeerItem, { key: p.peer, peer: p })),
      ),
      r.peers.length === 0
        ? h(
            'p',
            { id: 'no-peers', className: 'hint' },
            'Nobody else is here yet. ',
            h('a', { id: 'invite', href: invite, target: '_blank', rel: 'noopener' }, 'Open this room in a new tab'),
            '.',
          )
        : null,
      h(StrictModeCheck, { connects: example.connects }),
    ),
    h(Chat, { messages: r.messages, send: r.send, canSend: r.state === 'joined' && r.peers.some((p) => p.state === 'connected') }),
  );
}

function ErrorBanner({ error }) {
  if (!error) return null;
  return h(
    'div',
    { id: 'error', className: 'alert', role: 'alert' },
    h('strong', { id: 'error-title' }, 'Something went wrong'),
    ' ',
    h('span', { id: 'error-text' }, error.message),
  );
}

/** Mirrors what the page shows into window.example. */
function useExposeState(roomName, name, r) {
  useEffect(() => {
    example.state = r.state;
    example.name = roomName ? name : null;
    example.roomName = roomName;
    example.self = r.self;
    example.room = r.room;
    example.peers = r.peers;
    example.messages = r.messages.map(({ from, name: n, text, self }) => ({ from, name: n, text, self }));
    example.error = r.error;
    document.body.dataset.state = r.state;
  });
}

// ?room=R&name=N fills the form in; with &autojoin=1 the page joins at once.
const params = new URLSearchParams(location.search);
const defaults = { room: params.get('room') || 'react-lobby', name: params.get('name') || guestName() };
const autojoin = params.get('autojoin') === '1' && params.get('room') && params.get('name') ? defaults : null;
if (autojoin) signIn(autojoin.name); // once, outside React, like the client itself

function App() {
  const [session, setSession] = useState(autojoin);
  const [last, setLast] = useState(defaults); // what the form shows after leaving
  const join = (/** @type {string} */ room, /** @type {string} */ name) => {
    signIn(name); // in the event handler, never in render
    setSession({ room, name });
    setLast({ room, name });
  };
  const roomName = session ? session.room : null;
  const r = useRoom(roomName);
  useExposeState(roomName, session?.name ?? null, r);

  return h(
    React.Fragment,
    null,
    h(
      'header',
      { className: 'topbar' },
      h(
        'div',
        { className: 'brand' },
        h('img', { src: '/favicon.svg', alt: '', width: 28, height: 28 }),
        h('span', null, 'Switchboard'),
        h('span', { className: 'brand-sub' }, 'React example'),
      ),
      h(Status, { roomName }),
    ),
    h(
      'main',
      null,
      h(ErrorBanner, { error: r.state === 'joined' ? null : r.error }),
      session
        ? h(RoomView, { roomName: session.room, name: session.name, onLeave: () => setSession(null) })
        : h(JoinForm, {
            initialRoom: last.room,
            initialName: last.name,
            onJoin: join,
          }),
    ),
    h(
      'footer',
      { className: 'footer' },
      'React ',
      React.version,
      ' in <StrictMode> · ',
      h('a', { href: '/sdk/switchboard.d.ts' }, 'SDK types'),
      ' · ',
      h('a', { href: '/' }, 'chat demo'),
    ),
  );
}

ReactDOM.createRoot(document.getElementById('root')).render(h(React.StrictMode, null, h(App)));

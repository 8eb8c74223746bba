// useRoom(name): the room `name` of the app's one Switchboard client, as
// React state: { room, peers, state, error, self, messages, send }.
//
// Safe under <React.StrictMode>. In development React 18 mounts every
// component, unmounts it and mounts it again at once, running effects twice.
// A hook that joined in its effect and left in its cleanup would join,
// leave and join again: two joins, a leave in between, and links to every
// peer torn down and rebuilt. Here the effect only takes a reference on a
// shared handle per room name; the last reference going away schedules the
// leave for later (setTimeout 0), and a new reference taken before that runs
// (StrictMode's second mount comes within the same task) cancels it. So the
// room is joined once, however many components use it and however often
// React mounts them, and it is left when the last of them goes for good.
//
// In an app built with npm, import useEffect, useState and useSyncExternalStore
// from the react package instead of reading them off window.React.

import { sb } from './client.js';

const { useEffect, useState, useSyncExternalStore } = /** @type {any} */ (window).React;

/**
 * @typedef {'idle'|'connecting'|'joined'|'reconnecting'|'error'} RoomState
 * @typedef {{peer: string, user?: string, name?: string, state: string, connectionType?: 'direct'|'relayed'|null}} PeerView
 * @typedef {{id: number, from: string, name: string, text: string, self: boolean, at: number, delivered?: number}} Message
 * @typedef {{
 *   name: string|null, state: RoomState, room: any, self: string|null,
 *   peers: PeerView[], messages: Message[], error: {code: string, message: string}|null,
 * }} RoomSnapshot
 */

/** Counters that show what the hook did; the example puts them on window.example. */
export const roomStats = {
  /** effect mounts that took a reference (StrictMode doubles these) */
  acquires: 0,
  /** effect cleanups that dropped one */
  releases: 0,
  /** sb.join() calls: one per room, however many acquires */
  joins: 0,
  /** rooms actually left */
  leaves: 0,
};

/** @type {RoomSnapshot} */
const IDLE = Object.freeze({ name: null, state: 'idle', room: null, self: null, peers: [], messages: [], error: null });

/** Open handles by room name. @type {Map<string, RoomHandle>} */
const handles = new Map();

/** Messages kept per room. */
const MAX_MESSAGES = 500;

/** One joined (or joining) room shared by every component that uses it. */
class RoomHandle {
  refs = 0;
  /** @type {ReturnType<typeof setTimeout>|null} */
  leaveTimer = null;
  closed = false;
  /** @type {any} the SDK's Room once joined */
  room = null;
  /** a join that failed for good (refused, forbidden) */
  fatal = false;
  /** @type {{code: string, message: string}|null} */
  error = null;
  /** @type {Message[]} */
  messages = [];
  nextId = 1;
  /** @type {Set<() => void>} */
  listeners = new Set();
  /** @type {RoomSnapshot} */
  snapshot;
  /** @type {(() => void)[]} */
  unsubscribe = [];

  /** @param {string} name */
  constructor(name) {
    this.name = name;
    this.snapshot = { ...IDLE, name, state: 'connecting' };
  }

  // useSyncExternalStore wants stable functions: arrow properties.
  /** @param {() => void} fn */
  subscribe = (fn) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getSnapshot = () => this.snapshot;

  /**
   * Sends a chat message to every peer over the data channels.
   * @param {string} text
   * @returns {number} how many peers it went to
   */
  send = (text) => {
    if (!this.room || this.closed) return 0;
    const delivered = this.room.send({ type: 'chat', text });
    this.#push({ from: this.room.self ?? '', name: 'You', text, self: true, delivered });
    return delivered;
  };

  open() {
    roomStats.joins++;
    const on = (/** @type {any} */ emitter, /** @type {string} */ event, /** @type {Function} */ fn) => {
      emitter.on(event, fn);
      this.unsubscribe.push(() => emitter.off(event, fn));
    };
    on(sb, 'disconnect', () => this.update());
    on(sb, 'error', (/** @type {any} */ err) => {
      // Connection trouble while (re)connecting: show it, keep trying.
      this.error = describe(err);
      this.update();
    });
    sb.connect(); // no-op when already connected or connecting
    sb.join(this.name).then(
      (/** @type {any} */ room) => {
        if (this.closed) return; // close() left it already
        this.room = room;
        this.error = null;
        on(room, 'joined', () => this.update()); // rejoined after a reconnect
        on(room, 'peer-joined', () => this.update());
        on(room, 'peer-left', () => this.update());
        on(room, 'peer-state', () => this.update());
        on(room, 'data', (/** @type {string} */ peer, /** @type {unknown} */ data) => this.#onData(peer, data));
        on(room, 'error', (/** @type {any} */ err) => {
          this.error = describe(err);
          this.update();
        });
        this.update();
      },
      (/** @type {any} */ err) => {
        if (this.closed) return;
        this.fatal = true;
        this.error = describe(err);
        this.update();
      },
    );
    this.update();
  }

  close() {
    this.closed = true;
    handles.delete(this.name);
    roomStats.leaves++;
    for (const off of this.unsubscribe.splice(0)) off();
    // Before the join completed there is no Room here yet, but the SDK has
    // one in sb.rooms: leave that.
    const room = this.room ?? sb.rooms.find((r) => r.name === this.name && !r.ns);
    const left = room ? room.leave() : Promise.resolve();
    left
      .catch(() => {})
      .finally(() => {
        // The last room is gone: hang up, so that nothing stays open.
        if (handles.size === 0) sb.disconnect();
      });
  }

  update() {
    const room = this.room;
    /** @type {RoomState} */
    let state;
    if (this.fatal) state = 'error';
    else if (!room) state = 'connecting';
    else state = room.joined ? 'joined' : 'reconnecting';
    if (state === 'joined') this.error = null;
    this.snapshot = {
      name: this.name,
      state,
      room,
      self: room?.self ?? null,
      peers: room
        ? [...room.peers.values()].map((p) => ({
            peer: p.peer,
            user: p.user,
            name: p.name,
            state: p.state,
            connectionType: p.connectionType, // 'direct' | 'relayed' | null
          }))
        : [],
      messages: this.messages,
      error: this.error,
    };
    for (const fn of [...this.listeners]) fn();
  }

  /**
   * @param {string} peer
   * @param {unknown} data
   */
  #onData(peer, data) {
    const d = /** @type {any} */ (data);
    const text = d && d.type === 'chat' && typeof d.text === 'string' ? d.text : JSON.stringify(data);
    const info = this.room?.peers.get(peer);
    this.#push({ from: peer, name: info?.name || info?.user || peer, text, self: false });
  }

  /** @param {Omit<Message, 'id'|'at'>} m */
  #push(m) {
    this.messages = [...this.messages, { ...m, id: this.nextId++, at: Date.now() }].slice(-MAX_MESSAGES);
    this.update();
  }
}

/** @param {any} err */
function describe(err) {
  return { code: String(err?.code ?? 'error'), message: String(err?.message ?? err) };
}

/** @param {string} name */
function acquire(name) {
  roomStats.acquires++;
  let h = handles.get(name);
  if (!h) {
    h = new RoomHandle(name);
    handles.set(name, h);
    h.open();
  }
  h.refs++;
  if (h.leaveTimer !== null) {
    clearTimeout(h.leaveTimer); // StrictMode's remount, or another component: stay
    h.leaveTimer = null;
  }
  return h;
}

/** @param {RoomHandle} h */
function release(h) {
  roomStats.releases++;
  if (--h.refs > 0 || h.leaveTimer !== null) return;
  h.leaveTimer = setTimeout(() => {
    h.leaveTimer = null;
    if (h.refs === 0 && !h.closed) h.close();
  });
}

const noSubscribe = () => () => {};
const idleSnapshot = () => IDLE;

/**
 * The room `name` (null or '' for none), joined while any mounted component
 * uses it.
 * @param {string|null} name
 * @returns {RoomSnapshot & {send: (text: string) => number}}
 */
export function useRoom(name) {
  const [handle, setHandle] = useState(/** @type {RoomHandle|null} */ (null));
  useEffect(() => {
    if (!name) return undefined;
    const h = acquire(name);
    setHandle(h);
    return () => release(h);
  }, [name]);
  const current = handle && handle.name === name && !handle.closed ? handle : null;
  const snap = useSyncExternalStore(current ? current.subscribe : noSubscribe, current ? current.getSnapshot : idleSnapshot);
  return { ...snap, send: current ? current.send : () => 0 };
}

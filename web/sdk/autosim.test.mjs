// Auto rooms end to end in Node: several real Rooms (auto.js, switch.js,
// dataseq.js) whose mesh links and SFU are simulated with random delays
// per path, switched mesh -> sfu -> mesh while every room sends numbered
// messages: each message arrives exactly once and in order, and every room
// finishes on the path the server asked for.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Room } from './room.js';
import { FakeMediaStream, until } from './fakes.mjs';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

/** A delivery queue per direction: random delays, order kept (one runner, first in first out). */
function lane(maxDelay) {
  /** @type {{at: number, fn: () => void}[]} */
  const queue = [];
  let running = false;
  const run = () => {
    const head = queue[0];
    if (!head) {
      running = false;
      return;
    }
    const wait = head.at - Date.now();
    if (wait > 0) {
      setTimeout(run, wait);
      return;
    }
    queue.shift();
    head.fn();
    run();
  };
  return (/** @type {() => void} */ fn) => {
    queue.push({ at: Date.now() + Math.random() * maxDelay, fn });
    if (!running) {
      running = true;
      setTimeout(run, 0);
    }
  };
}

/**
 * The simulated world: a server (mode frames, acks relayed, sfu-join),
 * mesh links wired pair by pair, an SFU hub relaying envelopes.
 * @param {string[]} ids
 * @param {{mesh: number, sfu: number}} delays largest delay (ms) on each path
 */
function world(ids, delays) {
  /** @type {Map<string, Room>} */
  const rooms = new Map();
  /** @type {Map<string, any>} each mesh link end, by "from>to" */
  const ends = new Map();
  /** @type {Map<string, any>} each room's SFU link */
  const sfus = new Map();
  const lanes = new Map();
  const laneOf = (key, max) => {
    if (!lanes.has(key)) lanes.set(key, lane(max));
    return lanes.get(key);
  };
  let switchId = 0;
  let mode = 'mesh';
  const deliver = (to, frame) => setTimeout(() => rooms.get(to)?._handle(frame), 1);

  const meshLink = (self) => (opts) => {
    const peer = opts.peerId;
    const end = {
      state: 'connecting',
      pc: {},
      remoteStream: new FakeMediaStream(),
      connectionType: 'direct',
      handleSignal() {},
      publish() {},
      getStats: async () => null,
      sendRaw(m) {
        if (end.state !== 'connected') return false;
        const bytes = m.slice();
        laneOf(`m:${self}>${peer}`, delays.mesh)(() => {
          const other = ends.get(`${peer}>${self}`);
          if (other?.state === 'connected') other.opts.onMessage?.(bytes.buffer);
        });
        return true;
      },
      close() {
        if (end.state === 'closed') return;
        end.state = 'closed';
        opts.onState?.('closed');
        const other = ends.get(`${peer}>${self}`);
        // The other end's channel closes once what was sent has arrived.
        laneOf(`m:${self}>${peer}`, delays.mesh)(() => {
          if (other && other.state !== 'closed' && ends.get(`${peer}>${self}`) === other) {
            other.state = 'closed';
            other.opts.onState?.('closed');
          }
        });
      },
      opts,
    };
    ends.set(`${self}>${peer}`, end);
    const other = ends.get(`${peer}>${self}`);
    if (other && other.state === 'connecting') {
      setTimeout(() => {
        for (const e of [end, other]) {
          if (e.state !== 'connecting') continue;
          e.state = 'connected';
          e.opts.onState?.('connected');
        }
      }, 3);
    }
    return end;
  };

  const sfuLink = (self) => (opts) => {
    const link = {
      state: 'connecting',
      sub: {},
      pub: null,
      handle() {},
      publish() {},
      setQuality() {},
      setSize() {},
      setIceServers() {},
      dropPeer() {},
      remoteStream: () => new FakeMediaStream(),
      getStats: async () => null,
      sendBytes(b) {
        if (link.state !== 'connected') return false;
        const bytes = b.slice();
        const n = bytes[1];
        const target = n === 0 ? null : new TextDecoder().decode(bytes.subarray(2, 2 + n));
        const id = new TextEncoder().encode(self);
        const out = new Uint8Array([bytes[0], id.length, ...id, ...bytes.subarray(2 + n)]);
        for (const to of target === null ? [...sfus.keys()].filter((p) => p !== self) : [target]) {
          laneOf(`s:${self}>${to}`, delays.sfu)(() => {
            const dest = sfus.get(to);
            if (dest?.state === 'connected') dest.opts.onMessage?.(out.slice().buffer);
          });
        }
        return true;
      },
      close() {
        if (link.state === 'closed') return;
        link.state = 'closed';
        if (sfus.get(self) === link) sfus.delete(self);
        opts.onState?.('closed');
      },
      opts,
    };
    return link;
  };

  for (const id of ids) {
    const host = {
      id,
      iceServers: [],
      connected: true,
      async request(frame) {
        switch (frame.type) {
          case 'join':
            return { type: 'joined', room: 'sim', mode, auto: true, switch: switchId, peers: ids.filter((p) => p !== id).map((peer) => ({ peer })) };
          case 'sfu-join': {
            // The SFU admits: the client's link connects a little later.
            setTimeout(() => {
              const link = host.sfuLink;
              if (!link || link.state !== 'connecting') return;
              sfus.set(id, link);
              link.state = 'connected';
              link.opts.onState?.('connected');
            }, 5);
            return { type: 'ack' };
          }
          case 'sfu-leave':
            sfus.delete(id);
            return { type: 'ack' };
          case 'mode-ack':
            for (const other of ids) if (other !== id) deliver(other, { ...frame, from: id });
            return { type: 'ack' };
          default:
            return { type: 'ack' };
        }
      },
    };
    const makeSfu = sfuLink(id);
    const room = new Room(host, 'sim', undefined, {
      forget() {},
      createLink: meshLink(id),
      createSfu: (o) => (host.sfuLink = makeSfu(o)),
      MediaStream: FakeMediaStream,
      auto: { mediaFlowing: () => true, switching: { probeInterval: 3 }, linger: 30 },
    });
    rooms.set(id, room);
  }
  return {
    rooms,
    async join() {
      for (const room of rooms.values()) room._join();
      await Promise.all([...rooms.values()].map((r) => r._ready()));
    },
    switchTo(m) {
      mode = m;
      switchId++;
      for (const id of ids) deliver(id, { type: 'mode', room: 'sim', mode: m, switch: switchId });
    },
    get switchId() {
      return switchId;
    },
  };
}

/**
 * Runs a scenario: every room sends numbered messages (broadcasts, and a
 * sendTo every few) while the server switches; then checks delivery.
 * @param {{mesh: number, sfu: number}} delays
 * @param {(w: ReturnType<typeof world>) => Promise<void>} script
 */
async function scenario(delays, script) {
  const ids = ['p1', 'p2', 'p3', 'p4'];
  const w = world(ids, delays);
  await w.join();
  /** @type {Map<string, {to: string|null, k: number}[]>} what each room sent, to whom */
  const sent = new Map(ids.map((id) => [id, []]));
  /** @type {Map<string, Map<string, number[]>>} what each room got, by sender */
  const got = new Map(ids.map((id) => [id, new Map()]));
  for (const [id, room] of w.rooms) {
    room.on('data', (from, d) => {
      const m = got.get(id);
      if (!m.has(from)) m.set(from, []);
      m.get(from).push(d.k);
    });
  }
  // Every room connected on the mesh first.
  await until(() => [...w.rooms.values()].every((r) => [...r.peers.values()].every((p) => p.state === 'connected')));
  let k = 0;
  let sending = true;
  const pump = (async () => {
    while (sending) {
      for (const [id, room] of w.rooms) {
        k++;
        if (k % 5 === 0) {
          const to = ids[(k / 5) % ids.length];
          if (to !== id && room.sendTo(to, { k })) sent.get(id).push({ to, k });
        } else if (room.send({ k }) === ids.length - 1) {
          sent.get(id).push({ to: null, k });
        }
      }
      await tick(1);
    }
  })();
  await script(w);
  sending = false;
  await pump;
  // Everything settles: nothing left in flight (delays are small).
  await tick(Math.max(delays.mesh, delays.sfu) * 3 + 50);
  for (const [id, byFrom] of got) {
    for (const [from, list] of sent) {
      if (from === id) continue;
      const want = list.filter((m) => m.to === null || m.to === id).map((m) => m.k);
      const have = byFrom.get(from) ?? [];
      assert.deepEqual(have, want, `${id} from ${from}: ${have.length} messages, want ${want.length}`);
    }
  }
  for (const room of w.rooms.values()) await room.leave();
  return w;
}

test('to the SFU and back while everyone sends: every message once and in order (SFU faster than the mesh)', async () => {
  await scenario({ mesh: 25, sfu: 5 }, async (w) => {
    await tick(30);
    w.switchTo('sfu');
    await until(() => [...w.rooms.values()].every((r) => r.mode === 'sfu'), 3000);
    await tick(60);
    w.switchTo('mesh');
    await until(() => [...w.rooms.values()].every((r) => r.mode === 'mesh'), 3000);
    await tick(60);
  });
});

test('the same with the mesh faster than the SFU, and a switch superseded half way', async () => {
  await scenario({ mesh: 3, sfu: 30 }, async (w) => {
    await tick(20);
    w.switchTo('sfu');
    await tick(8);
    w.switchTo('mesh'); // before most peers moved
    await until(() => [...w.rooms.values()].every((r) => r.mode === 'mesh'), 3000);
    w.switchTo('sfu');
    await until(() => [...w.rooms.values()].every((r) => r.mode === 'sfu'), 3000);
    // Old paths close once every pair moved: only the SFU is left.
    await until(() => [...w.rooms.values()].every((r) => [...r.peers.keys()].every((p) => r.getConnection(p) !== undefined)), 3000);
    await tick(80);
  });
});

test('switches in quick succession over two jittery paths, ending on the mesh', async () => {
  await scenario({ mesh: 15, sfu: 15 }, async (w) => {
    await tick(15);
    for (const m of ['sfu', 'mesh', 'sfu']) {
      w.switchTo(m);
      await tick(5 + Math.random() * 20);
    }
    w.switchTo('mesh');
    await until(() => [...w.rooms.values()].every((r) => r.mode === 'mesh' && !r.getPublishConnection()), 3000);
    await until(() => [...w.rooms.values()].every((r) => [...r.peers.values()].every((p) => p.connectionType === 'direct')), 3000);
    await tick(40);
  });
});

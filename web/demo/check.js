// The connectivity check: fetches the server's ICE servers, then tests from
// this browser, one after the other:
//
//   direct    host candidates, STUN (srflx), and a data round trip between
//             two RTCPeerConnections in this page
//   turn-udp  } each with one TURN URL only and iceTransportPolicy 'relay':
//   turn-tcp  } a relay candidate means the allocation worked; a data channel
//   turn-tls  } ping between two such connections goes through the relay
//
// and ends with a verdict. State for tests lives in window.check;
// check.snapshot() returns it as plain JSON.

import { $, el, DemoError, setStatus, showError, obtainToken, explain, formatMs } from '/common.js';

/**
 * @typedef {'waiting'|'running'|'works'|'partial'|'fails'|'not-offered'} Status
 * @typedef {{type: string, address: string, port: number, protocol: string, relayProtocol?: string, ms: number}} Candidate
 * @typedef {{code: number, text: string, url: string}} CandidateError
 * @typedef {object} Result
 * @property {string} id
 * @property {string} label
 * @property {Status} status
 * @property {string|null} url the URL tested
 * @property {string} summary one line
 * @property {string[]} details
 * @property {number|null} candidateMs time to the first candidate of the kind tested (relay, or host)
 * @property {number|null} srflxMs time to the server-reflexive candidate (direct only)
 * @property {Candidate|null} candidate that first candidate
 * @property {Candidate[]} candidates every candidate of the first connection
 * @property {boolean|null} stunAnswered direct only: whether the STUN server answered
 * @property {number|null} connectMs time until the data channel between the two connections opened
 * @property {number|null} roundTripMs median data channel round trip
 * @property {{local: string, remote: string}|null} pair candidate types of the selected pair
 * @property {CandidateError[]} errors icecandidateerror events
 */

const TIMEOUT_MS = 8000; // per test: connection and pings
const PINGS = 5;

/** @type {{id: string, label: string, what: string}[]} */
const ROWS = [
  { id: 'direct', label: 'Direct (UDP, STUN)', what: 'Peers reach each other without a relay; STUN tells the browser its public address.' },
  { id: 'turn-udp', label: 'TURN over UDP', what: 'Relays media when no direct path exists. The usual and cheapest relay.' },
  { id: 'turn-tcp', label: 'TURN over TCP', what: 'Relays for networks that block UDP.' },
  { id: 'turn-tls', label: 'TURN over TLS', what: 'Relays for networks that only let TLS through, such as corporate proxies.' },
];

const ui = {
  form: /** @type {HTMLFormElement} */ ($('check-form')),
  run: /** @type {HTMLButtonElement} */ ($('run')),
  tokenBox: $('token-box'),
  token: /** @type {HTMLTextAreaElement} */ ($('token')),
  servers: $('servers'),
  serverHost: $('server-host'),
  serverList: $('server-list'),
  serverCreds: $('server-creds'),
  results: $('results'),
  verdict: $('verdict'),
  verdictTitle: $('verdict-title'),
  verdictText: $('verdict-text'),
};

/** @returns {Record<string, Result>} */
function freshResults() {
  return Object.fromEntries(
    ROWS.map((r) => [
      r.id,
      {
        id: r.id, label: r.label, status: /** @type {Status} */ ('waiting'), url: null, summary: 'Waiting', details: [],
        candidateMs: null, srflxMs: null, candidate: null, candidates: [], stunAnswered: null, connectMs: null,
        roundTripMs: null, pair: null, errors: [],
      },
    ]),
  );
}

/** Check state, readable from tests and the console. */
const check = {
  /** @type {'idle'|'running'|'done'|'error'} */
  state: 'idle',
  /** The server tested (the page's host). */
  server: location.host,
  /** @type {{urls: string[], username?: string, expires?: number}[]} the ICE servers, without credentials */
  iceServers: [],
  /** @type {number|null} unix seconds when the TURN credentials expire */
  expires: null,
  results: freshResults(),
  /** @type {{level: 'good'|'partial'|'bad', title: string, text: string}|null} */
  verdict: null,
  /** @type {{code: string, message: string, title: string}|null} */
  error: null,
  /** Runs the check (as the button does). */
  run: () => run(),
  snapshot() {
    const { state, server, iceServers, expires, results, verdict, error } = check;
    return structuredClone({ state, server, iceServers, expires, results, verdict, error });
  },
};
/** @type {any} */ (window).check = check;

// ---- addresses ------------------------------------------------------------------

/** @param {string} host @param {number} port */
function hostPort(host, port) {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The transport of a stun:/turn:/turns: URL.
 * @param {string} url
 */
function transportOf(url) {
  const m = /[?&]transport=(udp|tcp)/i.exec(url);
  if (m) return m[1].toLowerCase();
  return url.startsWith('turns:') ? 'tcp' : 'udp';
}

/**
 * Splits the server's list into one RTCIceServer per URL of each kind.
 * @param {any[]} list
 * @returns {Record<string, RTCIceServer|null>}
 */
function byKind(list) {
  /** @type {Record<string, RTCIceServer|null>} */
  const out = { stun: null, 'turn-udp': null, 'turn-tcp': null, 'turn-tls': null };
  for (const s of list) {
    const urls = Array.isArray(s.urls) ? s.urls : [s.urls];
    for (const u of urls) {
      if (typeof u !== 'string') continue;
      let kind = null;
      if (/^stuns?:/i.test(u)) kind = 'stun';
      else if (/^turns:/i.test(u)) kind = 'turn-tls';
      else if (/^turn:/i.test(u)) kind = transportOf(u) === 'tcp' ? 'turn-tcp' : 'turn-udp';
      if (kind && !out[kind]) {
        out[kind] = kind === 'stun' ? { urls: u } : { urls: u, username: s.username, credential: s.credential };
      }
    }
  }
  return out;
}

// ---- probing ----------------------------------------------------------------------

/** @param {RTCIceCandidate} c @param {number} ms @returns {Candidate} */
function candidateInfo(c, ms) {
  const any = /** @type {any} */ (c);
  /** @type {Candidate} */
  const out = { type: c.type ?? '?', address: c.address ?? '', port: c.port ?? 0, protocol: c.protocol ?? '', ms };
  if (any.relayProtocol) out.relayProtocol = any.relayProtocol;
  // Older browsers lack the fields: read them from the SDP line.
  if (!c.type || !c.address) {
    const f = c.candidate.split(' ');
    out.protocol = (f[2] ?? '').toLowerCase();
    out.address = f[4] ?? '';
    out.port = Number(f[5] ?? 0);
    out.type = f[7] ?? '?';
  }
  return out;
}

/**
 * @param {number} ms
 * @returns {{promise: Promise<'timeout'>, cancel: () => void}}
 */
function timer(ms) {
  let id = 0;
  const promise = new Promise((resolve) => {
    id = setTimeout(() => resolve('timeout'), ms);
  });
  return { promise: /** @type {Promise<'timeout'>} */ (promise), cancel: () => clearTimeout(id) };
}

/**
 * Two RTCPeerConnections in this page with the same configuration, a data
 * channel between them, and pings over it.
 * @param {RTCConfiguration} config
 */
async function probePair(config) {
  const t0 = performance.now();
  const since = () => performance.now() - t0;
  const a = new RTCPeerConnection(config);
  const b = new RTCPeerConnection(config);
  const out = {
    /** @type {Candidate[]} candidates of the first connection */
    candidates: [],
    /** @type {CandidateError[]} */
    errors: [],
    /** @type {number|null} */
    gatheringMs: null,
    /** @type {number|null} */
    connectMs: null,
    /** @type {number[]} */
    rtts: [],
    /** @type {{local: Candidate|null, remote: Candidate|null}|null} */
    pair: null,
    /** @type {string|null} why it did not connect */
    failure: null,
  };
  let closed = false;
  /** @type {(v: string) => void} */
  let settle = () => {};
  const opened = new Promise((resolve) => {
    settle = resolve;
  });
  /** @type {Record<string, RTCIceCandidate[]>} candidates waiting for the other's remote description */
  const queued = { a: [], b: [] };
  const ready = { a: false, b: false };
  /** @type {() => void} */
  let gathered = () => {};
  const gatheringDone = new Promise((resolve) => {
    gathered = () => resolve(undefined);
  });

  /** @param {RTCPeerConnection} to @param {'a'|'b'} toName @param {RTCIceCandidate} c */
  const deliver = (to, toName, c) => {
    if (closed) return;
    if (!ready[toName]) queued[toName].push(c);
    else to.addIceCandidate(c).catch(() => {});
  };
  a.onicecandidate = (ev) => {
    if (ev.candidate) {
      if (ev.candidate.candidate) out.candidates.push(candidateInfo(ev.candidate, since()));
      deliver(b, 'b', ev.candidate);
    } else {
      out.gatheringMs = since();
      gathered();
      if (out.candidates.length === 0) settle('no-candidates');
    }
  };
  b.onicecandidate = (ev) => {
    if (ev.candidate) deliver(a, 'a', ev.candidate);
  };
  /** @param {Event} ev */
  const onError = (ev) => {
    const e = /** @type {RTCPeerConnectionIceErrorEvent} */ (ev);
    out.errors.push({ code: e.errorCode, text: e.errorText, url: e.url });
  };
  a.addEventListener('icecandidateerror', onError);
  b.addEventListener('icecandidateerror', onError);
  b.ondatachannel = (ev) => {
    const ch = ev.channel;
    ch.onmessage = (m) => {
      if (ch.readyState === 'open') ch.send(m.data);
    };
  };
  const dc = a.createDataChannel('ping');

  dc.onopen = () => settle('open');
  a.onconnectionstatechange = () => {
    if (a.connectionState === 'failed') settle('failed');
  };
  const deadline = timer(TIMEOUT_MS);
  try {
    await a.setLocalDescription(await a.createOffer());
    await b.setRemoteDescription(/** @type {RTCSessionDescription} */ (a.localDescription));
    ready.b = true;
    for (const c of queued.b.splice(0)) b.addIceCandidate(c).catch(() => {});
    await b.setLocalDescription(await b.createAnswer());
    await a.setRemoteDescription(/** @type {RTCSessionDescription} */ (b.localDescription));
    ready.a = true;
    for (const c of queued.a.splice(0)) a.addIceCandidate(c).catch(() => {});

    const how = await Promise.race([opened, deadline.promise]);
    if (how === 'open') {
      out.connectMs = since();
      for (let i = 0; i < PINGS; i++) {
        const rtt = await ping(dc, 2000);
        if (rtt === null) break;
        out.rtts.push(rtt);
      }
      out.pair = await selectedPair(a);
    } else {
      out.failure = how === 'failed'
        ? 'ICE failed'
        : how === 'no-candidates'
          ? 'the browser got no candidate at all'
          : `no connection within ${TIMEOUT_MS / 1000} s`;
    }
    // Wait for gathering to end (STUN answers or times out) within the budget.
    await Promise.race([gatheringDone, deadline.promise]);
  } catch (err) {
    out.failure = /** @type {Error} */ (err).message || String(err);
  } finally {
    deadline.cancel();
    closed = true;
    dc.close();
    a.close();
    b.close();
  }
  return out;
}

/**
 * One data channel round trip in ms, or null on timeout.
 * @param {RTCDataChannel} dc @param {number} limit
 * @returns {Promise<number|null>}
 */
function ping(dc, limit) {
  return new Promise((resolve) => {
    const token = `${Math.random()}`;
    const start = performance.now();
    const t = setTimeout(() => {
      dc.removeEventListener('message', onMessage);
      resolve(null);
    }, limit);
    /** @param {MessageEvent} m */
    function onMessage(m) {
      if (m.data !== token) return;
      clearTimeout(t);
      dc.removeEventListener('message', onMessage);
      resolve(performance.now() - start);
    }
    dc.addEventListener('message', onMessage);
    dc.send(token);
  });
}

/**
 * The selected candidate pair of pc, from getStats.
 * @param {RTCPeerConnection} pc
 */
async function selectedPair(pc) {
  const stats = await pc.getStats();
  /** @type {any} */
  let pair = null;
  stats.forEach((s) => {
    if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
  });
  if (!pair) {
    stats.forEach((s) => {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
  }
  if (!pair) return null;
  /** @param {any} c @returns {Candidate|null} */
  const cand = (c) =>
    c ? { type: c.candidateType, address: c.address ?? c.ip ?? '', port: c.port, protocol: c.protocol, relayProtocol: c.relayProtocol, ms: 0 } : null;
  return { local: cand(stats.get(pair.localCandidateId)), remote: cand(stats.get(pair.remoteCandidateId)) };
}

/** @param {number[]} xs */
function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

/** @param {CandidateError} e */
function describeError(e) {
  switch (e.code) {
    case 401:
      return 'the server refused the TURN credentials (401)';
    case 403:
      return 'the server refused the request (403 Forbidden)';
    case 437:
      return 'allocation mismatch (437)';
    case 438:
      return 'stale nonce (438)';
    case 486:
      return 'too many allocations for this user (486 Allocation Quota Reached)';
    case 508:
      return 'the server has no relay ports left (508 Insufficient Capacity)';
    case 701:
      return 'no answer from the server (timed out or unreachable)';
    default:
      return `${e.text || 'error'} (${e.code})`;
  }
}

// ---- the tests --------------------------------------------------------------------

/**
 * @param {Result} r
 * @param {RTCIceServer|null} stun
 */
async function testDirect(r, stun) {
  r.url = stun ? String(stun.urls) : null;
  const p = await probePair({ iceServers: stun ? [stun] : [], iceTransportPolicy: 'all' });
  r.candidates = p.candidates;
  r.errors = p.errors;
  const host = p.candidates.filter((c) => c.type === 'host');
  const srflx = p.candidates.find((c) => c.type === 'srflx');
  const stunErrors = p.errors.filter((e) => /^stuns?:/i.test(e.url));
  r.candidate = host[0] ?? null;
  r.candidateMs = host[0]?.ms ?? null;
  r.srflxMs = srflx?.ms ?? null;
  r.connectMs = p.connectMs;
  r.roundTripMs = median(p.rtts);
  r.pair = p.pair ? { local: p.pair.local?.type ?? '?', remote: p.pair.remote?.type ?? '?' } : null;

  const d = [];
  d.push(host.length
    ? `Host candidates: ${host.length} (${[...new Set(host.map((c) => c.address))].join(', ')}), first in ${formatMs(host[0].ms)}.`
    : 'No host candidates: the browser offers none of its own addresses.');
  let stunLine;
  if (!stun) {
    r.stunAnswered = null;
    stunLine = 'STUN: not offered by this server.';
  } else if (srflx) {
    r.stunAnswered = true;
    stunLine = `STUN works: public address ${hostPort(srflx.address, srflx.port)} (srflx) in ${formatMs(srflx.ms)}.`;
  } else if (stunErrors.length) {
    r.stunAnswered = false;
    stunLine = `STUN fails: ${describeError(stunErrors[0])}.`;
  } else if (p.gatheringMs !== null) {
    r.stunAnswered = true;
    stunLine = `STUN answered (gathering done in ${formatMs(p.gatheringMs)}) with this machine's own address: there is no NAT between this browser and the server, so there is no separate srflx candidate.`;
  } else {
    r.stunAnswered = false;
    stunLine = `STUN fails: no answer from ${r.url} within ${TIMEOUT_MS / 1000} s (no srflx candidate, gathering did not finish). Is its UDP port open?`;
  }
  d.push(stunLine);
  if (r.roundTripMs !== null) {
    d.push(`Data round trip between two connections in this page: ${formatMs(r.roundTripMs)} (connected in ${formatMs(r.connectMs)}, ${r.pair?.local ?? '?'} to ${r.pair?.remote ?? '?'}).`);
  } else {
    d.push(`No direct connection between two connections in this page: ${p.failure ?? 'no data came back'}.`);
  }
  r.details = d;
  if (r.roundTripMs !== null && r.stunAnswered !== false) {
    r.status = 'works';
    r.summary = stun
      ? srflx ? 'Direct connections and STUN work' : 'Direct connections work; STUN answers'
      : 'Direct connections work; the server offers no STUN';
  } else if (r.roundTripMs !== null) {
    r.status = 'partial';
    r.summary = 'Direct connections work here, but the STUN server does not answer';
  } else {
    r.status = 'fails';
    r.summary = 'No direct connection, even inside this page';
  }
}

/**
 * @param {Result} r
 * @param {RTCIceServer|null} server
 */
async function testRelay(r, server) {
  if (!server) {
    r.status = 'not-offered';
    r.summary = 'Not offered by this server';
    r.details = [
      r.id === 'turn-tls'
        ? 'The server lists no turns: URL. Start it with --turn-tls-cert and --turn-tls-key to offer TURN over TLS.'
        : `The server lists no ${r.label} URL.`,
    ];
    return;
  }
  r.url = String(server.urls);
  const p = await probePair({ iceServers: [server], iceTransportPolicy: 'relay' });
  r.candidates = p.candidates;
  r.errors = p.errors;
  const relays = p.candidates.filter((c) => c.type === 'relay');
  const first = relays[0] ?? null;
  // Chromium names the transport to the server only for some candidates; with
  // one URL configured it is that URL's.
  if (first && !first.relayProtocol) first.relayProtocol = r.url.startsWith('turns:') ? 'tls' : transportOf(r.url);
  r.candidate = first;
  r.candidateMs = first?.ms ?? null;
  r.connectMs = p.connectMs;
  r.roundTripMs = median(p.rtts);
  r.pair = p.pair ? { local: p.pair.local?.type ?? '?', remote: p.pair.remote?.type ?? '?' } : null;

  const d = [];
  if (!first) {
    r.status = 'fails';
    const why = p.errors.length
      ? describeError(p.errors[0])
      : p.gatheringMs !== null
        ? 'the browser got no relay address (could it connect to the server?)'
        : `no answer from the server within ${TIMEOUT_MS / 1000} s`;
    r.summary = `No relay allocation: ${why}`;
    d.push(`Allocation on ${r.url} failed: ${why}.`);
    if (!p.errors.length || p.errors.some((e) => e.code === 701)) {
      d.push(`Check that the TURN port is open (${transportOf(r.url).toUpperCase()}) and that the URL's host is reachable from this browser.`);
    }
    r.details = d;
    return;
  }
  const relayAddr = hostPort(first.address, first.port);
  d.push(`Allocation works: relay address ${relayAddr}${first.relayProtocol ? ` (to the server over ${first.relayProtocol.toUpperCase()})` : ''} in ${formatMs(first.ms)}.`);
  if (r.roundTripMs !== null) {
    r.status = 'works';
    r.summary = `Relays data: round trip ${formatMs(r.roundTripMs)}`;
    d.push(`Data round trip through the relay: ${formatMs(r.roundTripMs)} (median of ${p.rtts.length}; connected in ${formatMs(r.connectMs)}).`);
    r.details = d;
    return;
  }
  r.status = 'fails';
  r.summary = 'Allocation works, but no data passes through the relay';
  d.push(`No data passed between the two test connections through ${relayAddr}: ${p.failure ?? 'no answer'}. The server relays between its own allocations in any address range, so a firewall may block its relay ports, or the server denies ${first.address} explicitly (--turn-deny-peers).`);
  r.details = d;
}

/** The verdict from the results. */
function verdict() {
  const r = check.results;
  const relays = ['turn-udp', 'turn-tcp', 'turn-tls'].map((id) => r[id]);
  const works = relays.filter((x) => x.status === 'works');
  const offered = relays.filter((x) => x.status !== 'not-offered');
  const names = (/** @type {Result[]} */ xs) => {
    const n = xs.map((x) => x.label.replace('TURN over ', ''));
    return n.length > 1 ? `${n.slice(0, -1).join(', ')} and ${n[n.length - 1]}` : n.join('');
  };
  const tlsNote = r['turn-tls'].status === 'not-offered'
    ? ' TURN over TLS is not offered, so people behind firewalls that only let TLS through cannot be relayed.'
    : '';
  const direct = r.direct.status === 'works' ? 'Direct connections work' : r.direct.status === 'partial' ? 'Direct connections work but STUN does not answer' : 'Direct connections fail';

  if (offered.length === 0) {
    return { level: /** @type {const} */ ('bad'), title: 'No relay', text: `${direct}, but this server offers no TURN relay: people behind strict NATs or firewalls will not connect.` };
  }
  if (works.length === offered.length) {
    return { level: /** @type {const} */ ('good'), title: 'Ready', text: `${direct}, and the TURN relay works over ${names(works)}: calls through this server will connect.${tlsNote}` };
  }
  if (works.length > 0) {
    const bad = offered.filter((x) => x.status !== 'works');
    return { level: /** @type {const} */ ('partial'), title: 'Mostly ready', text: `${direct}; the TURN relay works over ${names(works)} but not over ${names(bad)}.${tlsNote}` };
  }
  return { level: /** @type {const} */ ('bad'), title: 'Relay broken', text: `${direct}, but no TURN relay works: people behind strict NATs or firewalls will not connect. See the details above.` };
}

// ---- rendering ----------------------------------------------------------------------

const STATUS_TEXT = /** @type {Record<Status, string>} */ ({
  waiting: 'Waiting',
  running: 'Testing…',
  works: 'Works',
  partial: 'Partly',
  fails: 'Fails',
  'not-offered': 'Not offered',
});

function render() {
  ui.results.replaceChildren(
    ...ROWS.map((row) => {
      const r = check.results[row.id];
      const li = el('li', 'check-row');
      li.dataset.id = r.id;
      li.dataset.status = r.status;
      const head = el('div', 'check-head');
      const title = el('div', 'check-title');
      title.append(el('strong', '', r.label), el('span', 'check-what', row.what));
      const right = el('div', 'check-right');
      const timing = r.roundTripMs !== null
        ? `${r.id === 'direct' ? 'round trip' : 'via relay'} ${formatMs(r.roundTripMs)}`
        : r.candidateMs !== null && r.status !== 'running'
          ? `${r.id === 'direct' ? 'host' : 'relay'} in ${formatMs(r.candidateMs)}`
          : '';
      if (timing) right.append(el('span', 'check-time', timing));
      right.append(el('span', 'check-status', STATUS_TEXT[r.status]));
      head.append(title, right);
      li.append(head);
      if (r.status !== 'waiting') li.append(el('div', 'check-summary', r.summary));
      if (r.details.length) {
        const ul = el('ul', 'check-details');
        ul.append(...r.details.map((t) => el('li', '', t)));
        li.append(ul);
      }
      if (r.url) li.append(el('code', 'check-url', r.url));
      return li;
    }),
  );
  const v = check.verdict;
  ui.verdict.dataset.level = v ? v.level : 'none';
  ui.verdictTitle.textContent = v ? `Verdict: ${v.title}.` : check.state === 'running' ? 'Checking…' : 'Verdict';
  ui.verdictText.textContent = v
    ? v.text
    : check.state === 'running'
      ? 'The tests run one after the other and take a few seconds.'
      : 'Run the check to see whether calls through this server will connect.';
}

function renderServers() {
  ui.servers.hidden = false;
  ui.serverHost.textContent = check.server;
  const urls = check.iceServers.flatMap((s) => s.urls);
  ui.serverList.replaceChildren(
    ...(urls.length ? urls.map((u) => el('li', '', '')).map((li, i) => {
      li.append(el('code', '', urls[i]));
      return li;
    }) : [el('li', 'hint', 'None: the server runs without its TURN server (--turn=false).')]),
  );
  const user = check.iceServers.find((s) => s.username)?.username;
  ui.serverCreds.textContent = user && check.expires
    ? `TURN credentials for ${user.replace(/^\d+:/, '')}, valid until ${new Date(check.expires * 1000).toLocaleString()}.`
    : '';
}

// ---- running ----------------------------------------------------------------------

/**
 * GET /v1/ice-servers with the token.
 * @param {string} token
 * @returns {Promise<{iceServers: any[], expires: number|null}>}
 */
async function fetchIceServers(token) {
  let res;
  try {
    res = await fetch('/v1/ice-servers', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch {
    throw new DemoError('unreachable', `Cannot reach the server at ${location.host}. Is it running?`);
  }
  /** @type {any} */
  const body = await res.json().catch(() => null);
  if (res.status === 404 && body && typeof body.error === 'string') return { iceServers: [], expires: null }; // TURN off
  if (res.status === 401) {
    const code = body?.code === 'token_expired' ? 'token_expired' : 'unauthorized';
    throw new DemoError(code, body?.error || 'the token was refused');
  }
  if (!res.ok || !body || !Array.isArray(body.iceServers)) {
    throw new DemoError('ice_servers_failed', `The server did not give its ICE servers (HTTP ${res.status}${body?.error ? `: ${body.error}` : ''}).`);
  }
  return { iceServers: body.iceServers, expires: typeof body.expires === 'number' && body.expires > 0 ? body.expires : null };
}

async function run() {
  if (check.state === 'running') return;
  check.state = 'running';
  check.error = showError(null);
  check.verdict = null;
  check.results = freshResults();
  ui.run.disabled = true;
  setStatus('connecting', 'Getting ICE servers…');
  render();
  try {
    const { token } = await obtainToken(`check-${Math.random().toString(36).slice(2, 8)}`, ui.tokenBox, ui.token);
    const { iceServers, expires } = await fetchIceServers(token);
    check.iceServers = iceServers.map((s) => ({
      urls: Array.isArray(s.urls) ? s.urls : [s.urls],
      ...(s.username ? { username: s.username } : {}),
      ...(s.expires ? { expires: s.expires } : {}),
    }));
    check.expires = expires;
    renderServers();
    const kinds = byKind(iceServers);
    setStatus('connecting', 'Testing…');
    for (const row of ROWS) {
      const r = check.results[row.id];
      r.status = 'running';
      r.summary = 'Testing…';
      render();
      if (row.id === 'direct') await testDirect(r, kinds.stun);
      else await testRelay(r, kinds[row.id]);
      render();
    }
    check.verdict = verdict();
    check.state = 'done';
    setStatus(check.verdict.level === 'good' ? 'joined' : check.verdict.level === 'partial' ? 'warn' : 'error', 'Check done');
  } catch (err) {
    const [title, text] = explain(err);
    const e = /** @type {any} */ (err);
    const message = e.code === 'unreachable' || e.code === 'ice_servers_failed'
      ? e.message
      : e.code === 'token_expired'
        ? 'The token has expired. Paste a fresh one (or reload the page for a new development token) and run the check again.'
        : text;
    check.error = showError({ code: e.code, message }, title);
    check.state = 'error';
    for (const r of Object.values(check.results)) {
      if (r.status === 'waiting' || r.status === 'running') {
        r.status = 'waiting';
        r.summary = 'Not run';
      }
    }
    setStatus('error', 'Check failed');
  } finally {
    ui.run.disabled = false;
    ui.run.textContent = 'Run the check again';
    render();
  }
}

ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  run();
});

const params = new URLSearchParams(location.search);
if (params.has('token')) {
  ui.tokenBox.hidden = false;
  ui.token.value = params.get('token') ?? '';
}
render();
if (params.get('run') === '1') run();

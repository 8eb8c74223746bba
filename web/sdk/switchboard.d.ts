// Type declarations for the Switchboard browser SDK (/sdk/switchboard.js).
// Written by hand; keep in step with the JSDoc in the .js files.

/** Error codes the server sends in error frames. */
export type ServerErrorCode =
  | 'unauthorized'
  | 'token_expired'
  | 'forbidden'
  | 'not_found'
  | 'bad_request'
  | 'rate_limited'
  | 'limit_exceeded';

/** Error codes of failures the SDK detects itself. */
export type ClientErrorCodeValue =
  | 'unreachable'
  | 'disconnected'
  | 'timeout'
  | 'frame_too_big'
  | 'bad_frame'
  | 'no_token'
  | 'refresh_failed'
  | 'queue_full'
  | 'session_taken_over'
  | 'bad_url'
  | 'left'
  | 'send_failed'
  | 'negotiation_failed'
  | 'sfu_error';

export declare const ErrorCode: Readonly<{
  UNAUTHORIZED: 'unauthorized';
  TOKEN_EXPIRED: 'token_expired';
  FORBIDDEN: 'forbidden';
  NOT_FOUND: 'not_found';
  BAD_REQUEST: 'bad_request';
  RATE_LIMITED: 'rate_limited';
  LIMIT_EXCEEDED: 'limit_exceeded';
}>;

export declare const ClientErrorCode: Readonly<{
  UNREACHABLE: 'unreachable';
  DISCONNECTED: 'disconnected';
  TIMEOUT: 'timeout';
  FRAME_TOO_BIG: 'frame_too_big';
  BAD_FRAME: 'bad_frame';
  NO_TOKEN: 'no_token';
  REFRESH_FAILED: 'refresh_failed';
  QUEUE_FULL: 'queue_full';
  SESSION_TAKEN_OVER: 'session_taken_over';
}>;

/** Codes of Switchboard.resumeError: why the server did not resume the session. */
export type ResumeErrorCodeValue = 'session_unknown' | 'session_overflow' | 'seq_out_of_range' | 'forbidden';

export declare const ResumeErrorCode: Readonly<{
  /** The grace period is over, the resume token was used already, or the server restarted. */
  SESSION_UNKNOWN: 'session_unknown';
  /** More frames waited for the session while it was away than its buffer holds. */
  SESSION_OVERFLOW: 'session_overflow';
  /** lastSeq out of range (a client bug). */
  SEQ_OUT_OF_RANGE: 'seq_out_of_range';
  /** The new token does not grant every room the session was in. */
  FORBIDDEN: 'forbidden';
}>;

/**
 * WebSocket close codes the server uses, and RECONNECTING (4000), the code
 * with which the client closes a connection it gave up on (no pong, no
 * welcome in time) while it means to resume the session: 1000 or 1001 from
 * the client would end the session at once.
 */
export declare const CloseCode: Readonly<{
  NORMAL: 1000;
  GOING_AWAY: 1001;
  ABNORMAL: 1006;
  POLICY_VIOLATION: 1008;
  MESSAGE_TOO_BIG: 1009;
  PROTOCOL_ERROR: 4400;
  UNAUTHORIZED: 4401;
  HELLO_TIMEOUT: 4408;
  /** The session was resumed on another connection: this client stops. */
  TAKEN_OVER: 4409;
  TOO_MANY_SESSIONS: 4429;
  RECONNECTING: 4000;
}>;

/** Largest frame the server accepts, in bytes of UTF-8 (64 KiB). */
export declare const MAX_FRAME_BYTES: number;

/** A failure reported by the server or detected by the SDK. */
export declare class SwitchboardError extends Error {
  constructor(code: string, message?: string, details?: { frame?: Frame; closeCode?: number });
  readonly name: 'SwitchboardError';
  /** A ServerErrorCode, a ClientErrorCodeValue, or a code of a later server version. */
  readonly code: ServerErrorCode | ClientErrorCodeValue | (string & {});
  /** The error frame, when the server sent one. */
  readonly frame?: Frame;
  /** The WebSocket close code, when the connection closed. */
  readonly closeCode?: number;
}

/** A protocol frame: a JSON object with a "type". */
export interface Frame {
  type: string;
  [key: string]: unknown;
}

export interface SwitchboardOptions {
  /** Credentials sent in the hello frame. */
  auth?: { token?: string };
  /**
   * Fetches a fresh token: called when auth.token is missing, when the
   * server warns that the session's token expires soon ("token-expiring":
   * the SDK then refreshes the session in place, and tries again with
   * backoff if that fails), before a reconnection when the token expires
   * within a minute (a resume needs a valid token; if getToken fails then,
   * the current token is used), and after the server refused a token (close
   * 4401). It must return a token of the same user for a session to be
   * resumed. Without it a refused token stops reconnection.
   */
  getToken?: () => string | Promise<string>;
  /** Connect from the constructor. Default true. */
  autoConnect?: boolean;
  /** Reconnect (and resume the session) after a lost connection. Default true. */
  reconnection?: boolean;
  /** Attempts before "reconnect_failed". Default Infinity. */
  reconnectionAttempts?: number;
  /**
   * First reconnection delay in ms. Default 1000. While the session can be
   * resumed no delay exceeds a quarter of the server's grace period, and a
   * draining server's "reconnect" frame sets the next delay.
   */
  reconnectionDelay?: number;
  /** Largest reconnection delay in ms. Default 5000. */
  reconnectionDelayMax?: number;
  /** Jitter of the delays, 0 to 1. Default 0.5. */
  randomizationFactor?: number;
  /** Time in ms for a connection to reach the welcome frame. Default 20000. */
  timeout?: number;
  /** Time in ms for a request to get its reply. Default 10000. */
  requestTimeout?: number;
  /** Time in ms between heartbeat pings. Default 20000. */
  pingInterval?: number;
  /** Time in ms for a pong before the connection counts as dead. Default 10000. */
  pingTimeout?: number;
  /**
   * First delay in ms before a failed token refresh (getToken or the refresh
   * request) is tried again; it doubles, at most 30 s, until the token
   * expires. Default 2000.
   */
  tokenRefreshDelay?: number;
  /**
   * Extra settings for every RTCPeerConnection the SDK creates, such as
   * `{ iceTransportPolicy: 'relay' }`. With `iceServers` these replace the
   * server's (and the server's refreshed TURN credentials are not applied);
   * without, the server's `iceServers` are used.
   */
  rtcConfig?: RTCConfiguration;
  /** WebSocket constructor, for non-browser use and tests. */
  WebSocket?: typeof WebSocket;
  /** RTCPeerConnection constructor, for non-browser use and tests. */
  RTCPeerConnection?: typeof RTCPeerConnection;
  /** MediaStream constructor for remote streams, for non-browser use and tests. */
  MediaStream?: typeof MediaStream;
}

export interface DisconnectDetails {
  /** The WebSocket close code, absent when the client gave up on its own (ping timeout). */
  code?: number;
  /** The close reason text. */
  reason?: string;
  /** The last error frame the server sent on this connection. */
  error?: SwitchboardError;
}

/**
 * Why a connection ended: "client disconnect", "server closed", "server going
 * away", "too slow", "frame too big", "protocol error", "unauthorized",
 * "hello timeout", "session taken over", "too many sessions", "transport
 * close", "ping timeout", "connect timeout".
 */
export type DisconnectReason = string;

/** What "connect" and "reconnect" tell about the session. */
export interface ConnectInfo {
  /**
   * The session of the last connection carries on: same peer id, rooms and
   * links; what it was sent while away has been (or is being) replayed, and
   * requests left without a reply are sent again. Nothing is joined again.
   */
  resumed: boolean;
  /**
   * Why the server did not resume the session (a new session with a new peer
   * id started, and rooms are joined again); null when resumed, or when no
   * resume was tried (first connection, a server with resume off).
   */
  resumeError: SwitchboardError | null;
}

export interface SwitchboardEvents {
  /** The welcome frame arrived: id, session, user, name and iceServers are set. */
  connect: (info: ConnectInfo) => void;
  disconnect: (reason: DisconnectReason, details: DisconnectDetails) => void;
  /** A reconnection attempt starts (1, 2, ...). */
  reconnect_attempt: (attempt: number) => void;
  /** Connected again after this many attempts (after "connect"), the session resumed or not. */
  reconnect: (attempts: number, info: ConnectInfo) => void;
  /** reconnectionAttempts attempts failed; the client stopped. */
  reconnect_failed: () => void;
  /**
   * A failure: connection refused or unreachable, token refused or expired,
   * a failed token refresh ("refresh_failed", or the server's refusal as it
   * came), the session taken over by another connection
   * ("session_taken_over", close 4409: the client stops), or an error frame
   * that answers no request. A refused resume is not an error (see
   * ConnectInfo.resumeError).
   */
  error: (err: SwitchboardError) => void;
  /**
   * The server sent fresh ICE servers (TURN credentials) before the last ones
   * expired; iceServers is updated and open peer connections use them.
   */
  'ice-servers': (iceServers: RTCIceServer[]) => void;
  /**
   * The session's token expires soon (expires: unix seconds). With getToken
   * the SDK refreshes it by itself (failures: "error" events with code
   * "refresh_failed", retried until the token expires); otherwise call
   * refresh() with a fresh token, or the server ends the session when it
   * expires.
   */
  'token-expiring': (expires: number) => void;
}

export type PeerState = 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** Whether a link's selected ICE candidate pair goes through a TURN relay. */
export type ConnectionType = 'direct' | 'relayed';

/** How a room's media and data travel: peer to peer, or through the server's SFU. */
export type RoomMode = 'mesh' | 'sfu';

/** Room "mode" event (auto rooms): a switch this client finished. */
export interface ModeInfo {
  mode: RoomMode;
  /** The server's id of the switch (one more per switch of the room). */
  switch: number;
  /** Peers still reached on the other path. */
  failed: string[];
}

/** Room.setQuality: a fixed simulcast layer, or the server's choice. */
export type Quality = 'low' | 'medium' | 'high' | 'auto';

/** The layer an SFU forwards of a video track ("none": nothing). */
export type Layer = 'low' | 'medium' | 'high' | 'none' | (string & {});

export interface PeerInfo {
  /** The peer's id, assigned by the server per session. */
  peer: string;
  /** The user id from the peer's token. */
  user?: string;
  /** The display name from the peer's token. */
  name?: string;
  /**
   * The state of the link to the peer: "connected" once its data channel is
   * open; "connecting" also while an ICE restart is due or under way (after
   * an ICE failure, or when a new link did not connect within 20 s);
   * "failed" for good once the restarts are spent.
   */
  state: PeerState;
  /**
   * From the selected ICE candidate pair: "relayed" when either end's
   * candidate is a TURN relay candidate. null until a pair is selected;
   * updated when the pair changes (e.g. after an ICE restart). "sfu" for
   * every peer of an sfu room: reached through the server (whether the path
   * to the server is relayed: getStats(peer).local.type === 'relay').
   */
  connectionType: ConnectionType | 'sfu' | null;
}

/**
 * Room.getStats: one link's statistics. In an sfu room: the connection to
 * the server (candidates, rtt, transport totals) and the inbound RTP of that
 * peer's tracks; connectionType "sfu".
 */
export interface PeerStats {
  connectionType: ConnectionType | 'sfu' | null;
  /** The selected pair's local candidate. */
  local: { type: string; protocol: string; relayProtocol?: string; address?: string; port?: number } | null;
  /** The selected pair's remote candidate. */
  remote: { type: string; protocol: string; address?: string; port?: number } | null;
  /** Milliseconds, currentRoundTripTime of the selected pair. */
  rtt: number | null;
  /** Transport totals. */
  bytesSent: number;
  bytesReceived: number;
  /** Bits/s of inbound RTP since the previous getStats of the same peer; null on the first call. */
  bitrateIn: number | null;
  /** Bits/s of outbound RTP, same rule. */
  bitrateOut: number | null;
  /** Inbound video summed over its streams (size and rate of the largest); null without inbound video. */
  video: { framesDecoded: number; framesReceived: number; frameWidth?: number; frameHeight?: number; framesPerSecond?: number } | null;
  /** Inbound audio; null without. */
  audio: { packetsReceived: number; audioLevel?: number } | null;
  /** Milliseconds, of the report. */
  timestamp: number;
}

/** Options of Room.send and Room.sendTo. */
export interface SendOptions {
  /**
   * Default true: the reliable, ordered channel. false: the channel
   * "switchboard-unreliable" (unordered, no retransmissions); the message is
   * not sent to peers whose unreliable channel is not open.
   */
  reliable?: boolean;
}

export interface RoomEvents {
  /**
   * The room was joined: first a task after join() resolves (so a listener
   * added right after `await sb.join()` gets it), then again after every
   * reconnection (rejoin true): after a resumed session (resumed true,
   * sameSession true) once what it missed is replayed, with peers and links
   * as they were; otherwise after the join of the new session (sameSession
   * false: every peer and link is new).
   */
  joined: (info: { rejoin: boolean; sameSession: boolean; resumed?: boolean }) => void;
  'peer-joined': (peer: PeerInfo) => void;
  'peer-left': (peer: PeerInfo) => void;
  /** The link's state or its connectionType changed. */
  'peer-state': (peer: string, state: PeerState, info: PeerInfo) => void;
  /**
   * A remote track arrived; stream is room.remoteStream(peer). In an auto
   * room also when a switch moved the peer: its tracks on the new path join
   * the same stream ("track" for each), then those of the old path leave it
   * ("track-ended" for each).
   */
  track: (peer: string, track: MediaStreamTrack, stream: MediaStream) => void;
  /** The peer stopped sending the track (unpublish), the link closed, or (auto rooms) a switch replaced it. */
  'track-ended': (peer: string, track: MediaStreamTrack, stream: MediaStream) => void;
  /**
   * auto rooms: this client finished a switch the server announced: every
   * peer is now reached on path `mode` except those in `failed` (their new
   * path did not come up within 10 s, or they could not move to us), which
   * stay on the other path. room.mode is `mode` from now on. No peer-left or
   * peer-joined comes with a switch.
   */
  mode: (info: ModeInfo) => void;
  /** A data channel message: JSON text arrives parsed, binary as an ArrayBuffer. */
  data: (peer: string, data: unknown) => void;
  /** sfu rooms: the active speakers, loudest first (possibly empty; may include room.self). */
  speakers: (peers: string[]) => void;
  /**
   * sfu rooms: the layer the server now forwards of a peer's video track
   * (trackId is the server's, "<peer>:<publisher's track id>"; track the
   * MediaStreamTrack it arrives on, when known); paused: nothing is sent.
   */
  layer: (peer: string, trackId: string, layer: Layer, paused: boolean, track: MediaStreamTrack | undefined) => void;
  /** Data relayed by the server (Room.broadcast). */
  broadcast: (peer: string, data: unknown) => void;
  error: (err: SwitchboardError | Error) => void;
}

declare class TypedEmitter<E extends { [K in keyof E]: (...args: any[]) => void }> {
  on<K extends keyof E>(event: K, fn: E[K]): this;
  once<K extends keyof E>(event: K, fn: E[K]): this;
  off<K extends keyof E>(event?: K, fn?: E[K]): this;
  emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): boolean;
  listenerCount<K extends keyof E>(event: K): number;
}

/**
 * A room as seen from one peer: a WebRTC link to every other peer in it
 * (mode "mesh"), or one connection to the server's SFU through which every
 * peer's media and data come (mode "sfu"); the API is the same. An auto
 * room (room.auto) moves between the two when the server says so, make
 * before break: the app sees a "mode" event and nothing else changes.
 */
export declare class Room extends TypedEmitter<RoomEvents> {
  private constructor();
  readonly name: string;
  readonly ns: string | undefined;
  /** Own peer id in this room. */
  readonly self: string | null;
  /** The other peers, by peer id. */
  readonly peers: Map<string, PeerInfo>;
  /** Whether the room is joined in the current session. */
  readonly joined: boolean;
  /**
   * From the last join: "mesh" (a link to every peer) or "sfu" (media and
   * data through the server). "mesh" before the first join and with servers
   * that do not say. In an auto room, the mode of the last switch this
   * client finished (the "mode" event).
   */
  readonly mode: RoomMode;
  /** Whether the server runs the room in mode auto (a mesh that moves to the SFU when it grows, and back). */
  readonly auto: boolean;
  /** sfu rooms: the last "speakers" event's peers; [] otherwise. */
  readonly speakers: string[];
  /** What publish() was last given; null before, and after unpublish(). */
  readonly localStream: MediaStream | null;
  /**
   * Sends to every peer whose data channel is open; returns how many. Never
   * throws: data that cannot be sent (undefined, a function) and a channel
   * that refuses the message (full buffer, too large, a Blob before Chrome
   * 129) give a "send_failed" error event on the room. In an sfu room the
   * server relays it: returns the number of other peers in the room when the
   * channel to the server is open, else 0; a Blob, or more than 64 KiB,
   * gives "send_failed".
   */
  send(data: unknown, opts?: SendOptions): number;
  /**
   * Sends to one peer; false when its data channel is not open or sending
   * failed ("send_failed" error event, as for send).
   */
  sendTo(peer: string, data: unknown, opts?: SendOptions): boolean;
  /**
   * Sends to every other peer through the server (arrives as "broadcast").
   * While the connection is down it waits, in order, and goes out once the
   * session is resumed or the room is joined again; at most 100 wait (then
   * it rejects with "queue_full"); leaving rejects those waiting with "left".
   * One under way when the connection dropped is sent again if it did not
   * reach the server (resumed session), exactly once; it rejects with
   * "disconnected" if the session could not be resumed.
   */
  broadcast(data: unknown): Promise<void>;
  /**
   * Sends every track of the stream to every peer, now, to later peers and
   * after reconnections; again with another stream replaces what is sent.
   * The SDK never stops the tracks. Throws a SwitchboardError "bad_request"
   * for something that is not a MediaStream.
   */
  publish(stream: MediaStream): void;
  /** Stops sending media to every peer. */
  unpublish(): void;
  /**
   * The peer's live remote tracks: one stream for the life of the link (in
   * an auto room, for as long as the peer is in the room, across switches);
   * undefined without a link.
   */
  remoteStream(peer: string): MediaStream | undefined;
  /** Statistics of the link to a peer (auto rooms: of the path the peer is on now); null when there is no link. */
  getStats(peer: string): Promise<PeerStats | null>;
  /**
   * The RTCPeerConnection to a peer; in an sfu room the server's "sub"
   * connection every peer comes through; in an auto room the one of the
   * path the peer is on now.
   */
  getConnection(peer: string): RTCPeerConnection | undefined;
  /**
   * sfu rooms: the RTCPeerConnection this side publishes on (the server's
   * "pub" connection); undefined before the first publish and in a mesh.
   * The server pauses the simulcast layers nobody watches through its
   * senders' encodings (`active`).
   */
  getPublishConnection(): RTCPeerConnection | undefined;
  /**
   * sfu rooms: the layer of a peer's video, or "auto" (the server's choice
   * from bandwidth and the size shown). Kept while the peer is in the room,
   * sent again after a reconnection. No-op in mesh rooms. Throws
   * "bad_request" for another value.
   */
  setQuality(peer: string, quality: Quality): void;
  /**
   * sfu rooms: follows how large an element (the <video> showing the peer)
   * is shown, so that the server sends a layer that fits, and nothing while
   * it is hidden (display: none), removed, or no longer followed (0x0).
   * Several elements of one peer: the largest counts. Returns a function
   * that stops following the element. Peers never observed get what the
   * server sends by default.
   */
  observe(peer: string, element: Element): () => void;
  /** Leaves the room and closes its links. */
  leave(): Promise<void>;
}

/** A connection to a Switchboard server. */
export declare class Switchboard extends TypedEmitter<SwitchboardEvents> {
  /**
   * @param url ws(s):// or http(s):// URL of the endpoint, relative to the
   *   page if relative; default ws(s)://<page host>/ws
   */
  constructor(url?: string, opts?: SwitchboardOptions);
  constructor(opts?: SwitchboardOptions);
  /** Credentials for the next hello. */
  auth: { token?: string };
  /** Own peer id in the current session. */
  readonly id: string | null;
  readonly session: string | null;
  readonly user: string | null;
  readonly name: string | null;
  readonly limits: Record<string, number> | null;
  readonly iceServers: RTCIceServer[];
  /** Highest "seq" processed in this session (sent in a resuming hello). */
  readonly lastSeq: number;
  /** Whether the connection is up (welcome received). */
  readonly connected: boolean;
  /** Whether the current (or last) connection resumed the session of the one before. */
  readonly resumed: boolean;
  /** Why the server refused the last resume; null after a resume or when none was tried. */
  readonly resumeError: SwitchboardError | null;
  /** Whether the client is connected or trying to be. */
  readonly active: boolean;
  /** The rooms joined or being joined. */
  readonly rooms: Room[];
  /** Connects (no-op when connected or connecting). */
  connect(): this;
  /** Closes the connection, stops reconnecting and closes every room. */
  disconnect(): this;
  /** Same as disconnect(). */
  close(): this;
  /** Joins a room (waiting for the connection if need be). */
  join(name: string, opts?: { ns?: string }): Promise<Room>;
  /**
   * Sends a frame with a fresh "id" and resolves with its reply. Rejects with
   * "disconnected" at once when not connected. A request under way when the
   * connection drops waits (its timeout paused) for the session to be
   * resumed, is then sent again if it never reached the server, and rejects
   * with "disconnected" if the session is not resumed.
   */
  request(frame: Frame, opts?: { timeout?: number }): Promise<Frame>;
  /** Round-trip time to the server in ms. */
  ping(): Promise<number>;
  /**
   * Replaces the session's token with a fresh one of the same user without
   * reconnecting (it must grant every room joined); resolves with its expiry
   * in unix seconds. The next connection uses it too.
   */
  refresh(token: string): Promise<number>;
}

/** The endpoint URL the client connects to for a given url argument. */
export declare function resolveURL(url?: string, location?: { protocol: string; host: string; href: string }): string;

export default Switchboard;

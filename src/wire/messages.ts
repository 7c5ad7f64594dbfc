/**
 * memberlist's messages as heck models them. Field names follow memberlist's Go structs (wire keys
 * in comments); byte fields (`Addr`, `Meta`, `Vsn`, `Payload`, `Target`) are raw bytes, never text.
 * See docs/wire.md §1 and §3. Types are append-only: a new message gets a new number.
 */

export const MessageType = {
  ping: 0,
  indirectPing: 1,
  ackResp: 2,
  suspect: 3,
  alive: 4,
  dead: 5,
  pushPull: 6,
  compound: 7,
  user: 8,
  compress: 9,
  encrypt: 10,
  nackResp: 11,
  hasCrc: 12,
  errResp: 13,
} as const;
export type MessageTypeCode = (typeof MessageType)[keyof typeof MessageType];

/** Node state numbers in push-pull (`State`). */
export const NodeStateCode = { alive: 0, suspect: 1, dead: 2, left: 3 } as const;
export type NodeStateCode = (typeof NodeStateCode)[keyof typeof NodeStateCode];

/** ping (0): `Node`, `SeqNo`, omitempty `SourceAddr`, `SourceNode`, `SourcePort`. */
export interface PingMessage {
  type: "ping";
  seqNo: number;
  node: string;
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}

/** indirectPing (1): `Nack`, `Node`, `Port`, `SeqNo`, omitempty Source*, `Target`. */
export interface IndirectPingMessage {
  type: "indirectPing";
  seqNo: number;
  target: Uint8Array;
  port: number;
  node: string;
  nack: boolean;
  sourceAddr?: Uint8Array;
  sourcePort?: number;
  sourceNode?: string;
}

/** ackResp (2): `Payload` (nil or bytes), `SeqNo`. */
export interface AckMessage {
  type: "ack";
  seqNo: number;
  payload: Uint8Array | null;
}

/** nackResp (11): `SeqNo`. */
export interface NackMessage {
  type: "nack";
  seqNo: number;
}

/** errResp (13): `Error`. */
export interface ErrMessage {
  type: "err";
  error: string;
}

/** alive (4): `Addr`, `Incarnation`, `Meta`, `Node`, `Port`, `Vsn` (always 6 bytes). */
export interface AliveMessage {
  type: "alive";
  incarnation: number;
  node: string;
  addr: Uint8Array;
  port: number;
  meta: Uint8Array;
  vsn: Uint8Array;
}

/** suspect (3): `From`, `Incarnation`, `Node`. */
export interface SuspectMessage {
  type: "suspect";
  incarnation: number;
  node: string;
  from: string;
}

/** dead (5): `From`, `Incarnation`, `Node`. From == Node means a graceful leave. */
export interface DeadMessage {
  type: "dead";
  incarnation: number;
  node: string;
  from: string;
}

/** user (8): in a packet the rest of the bytes; on a stream `{UserMsgLen}` then the bytes. */
export interface UserMessage {
  type: "user";
  payload: Uint8Array;
}

/** One push-pull node state: `Addr`, `Incarnation`, `Meta`, `Name`, `Port`, `State`, `Vsn`. */
export interface PushNodeState {
  name: string;
  addr: Uint8Array;
  port: number;
  meta: Uint8Array;
  incarnation: number;
  state: NodeStateCode;
  vsn: Uint8Array;
}

/** pushPull (6): header `{Join, Nodes, UserStateLen}`, the node states, then the user state bytes. */
export interface PushPullMessage {
  type: "pushPull";
  join: boolean;
  nodes: PushNodeState[];
  userState: Uint8Array;
}

export type Message =
  | PingMessage
  | IndirectPingMessage
  | AckMessage
  | NackMessage
  | ErrMessage
  | AliveMessage
  | SuspectMessage
  | DeadMessage
  | UserMessage
  | PushPullMessage;

/** The Vsn heck sends: protocol 1..5 speaking 2, delegate 2..5 speaking 5, as Serf does (§6.1). */
export const HECK_VSN: Uint8Array = Uint8Array.of(1, 5, 2, 2, 5, 5);

import { WireError } from "../../errors.js";
import { MsgpackReader, MsgpackWriter } from "../../wire/msgpack.js";

/**
 * Serf's queries, as user messages (docs/wire.md §6.4, §6.10): a query is gossiped to every
 * member, and each answers the asker directly. Serf's cluster-wide key rotation (`serf keys`)
 * runs on them, and so does heck's (`heck keys`), so that one command rotates every member of a
 * mixed cluster. Decoders throw WireError on malformed input.
 */

/** First byte of a Serf user message, and of the payloads that travel inside queries. */
export const SerfQueryType = {
  query: 4,
  queryResponse: 5,
  keyRequest: 7,
  keyResponse: 8,
} as const;

/** Query flags (docs/wire.md §6.4). */
export const QueryFlag = {
  /** The asker wants a delivery ack from each member that processes the query. */
  ack: 1,
  /** Receivers do not gossip the query on. */
  noBroadcast: 2,
} as const;

/** First byte of a query filter. */
export const QueryFilterType = { node: 0, tag: 1 } as const;

/** Serf's prefix of the queries it handles itself; the rest are the application's. */
export const INTERNAL_QUERY_PREFIX = "_serf_";

/** The internal queries of Serf's key manager. */
export const KeyQuery = {
  install: `${INTERNAL_QUERY_PREFIX}install-key`,
  use: `${INTERNAL_QUERY_PREFIX}use-key`,
  remove: `${INTERNAL_QUERY_PREFIX}remove-key`,
  list: `${INTERNAL_QUERY_PREFIX}list-keys`,
} as const;

/** Largest query response Serf accepts to send (its QueryResponseSizeLimit). */
export const MAX_QUERY_RESPONSE_BYTES = 1024;

export interface SerfQuery {
  /** Query Lamport time. */
  ltime: bigint;
  /** Random id; with ltime it names the query. */
  id: number;
  /** Where responses go: the asker's address bytes and port. */
  addr: Uint8Array;
  port: number;
  sourceNode: string;
  /** Each a filter type byte and its msgpack body. */
  filters: Uint8Array[];
  flags: number;
  relayFactor: number;
  /** How long the asker waits for responses, in nanoseconds (a Go time.Duration). */
  timeoutNs: bigint;
  name: string;
  payload: Uint8Array;
}

export interface SerfQueryResponse {
  ltime: bigint;
  id: number;
  from: string;
  flags: number;
  payload: Uint8Array;
}

/** One member's answer to a key query (Serf's nodeKeyResponse). */
export interface NodeKeyResponse {
  result: boolean;
  /** Why it failed, or a warning. */
  message: string;
  /** list-keys only: the installed keys, base64. */
  keys: string[];
  /** list-keys only: the primary key, base64. */
  primaryKey: string;
}

const QUERY_FIELDS = [
  "LTime",
  "ID",
  "Addr",
  "Port",
  "SourceNode",
  "Filters",
  "Flags",
  "RelayFactor",
  "Timeout",
  "Name",
  "Payload",
] as const;
const RESPONSE_FIELDS = ["LTime", "ID", "From", "Flags", "Payload"] as const;
const KEY_RESPONSE_FIELDS = ["Result", "Message", "Keys", "PrimaryKey"] as const;
const MAX_U32 = 0xffffffff;

/** `04` + the query struct. */
export function encodeSerfQuery(q: SerfQuery): Uint8Array {
  return new MsgpackWriter()
    .u8(SerfQueryType.query)
    .struct([
      ["Addr", (w) => w.bytes(q.addr)],
      [
        "Filters",
        (w) => {
          if (q.filters.length === 0) return w.nil();
          w.arrayHeader(q.filters.length);
          for (const f of q.filters) w.bytes(f);
          return w;
        },
      ],
      ["Flags", (w) => w.int(q.flags)],
      ["ID", (w) => w.int(q.id)],
      ["LTime", (w) => w.int(q.ltime)],
      ["Name", (w) => w.str(q.name)],
      ["Payload", (w) => w.bytes(q.payload)],
      ["Port", (w) => w.int(q.port)],
      ["RelayFactor", (w) => w.int(q.relayFactor)],
      ["SourceNode", (w) => w.str(q.sourceNode)],
      ["Timeout", (w) => w.int(q.timeoutNs)],
    ])
    .finish();
}

function readLTime(r: MsgpackReader): bigint {
  const v = r.readInteger();
  if (v < 0n) throw new WireError("serf query: negative LTime");
  return v;
}

/** A query user message (first byte 4). Throws WireError. */
export function decodeSerfQuery(payload: Uint8Array): SerfQuery {
  if (payload[0] !== SerfQueryType.query) throw new WireError("serf query: wrong type byte");
  const q: SerfQuery = {
    ltime: 0n,
    id: 0,
    addr: new Uint8Array(0),
    port: 0,
    sourceNode: "",
    filters: [],
    flags: 0,
    relayFactor: 0,
    timeoutNs: 0n,
    name: "",
    payload: new Uint8Array(0),
  };
  new MsgpackReader(payload, 1).readStruct<SerfQuery>(
    QUERY_FIELDS,
    (key, t, r) => {
      switch (key) {
        case "LTime":
          t.ltime = readLTime(r);
          return true;
        case "ID":
          t.id = r.readUint(MAX_U32);
          return true;
        case "Addr":
          t.addr = r.readBytes();
          return true;
        case "Port":
          t.port = r.readUint(0xffff);
          return true;
        case "SourceNode":
          t.sourceNode = r.readString();
          return true;
        case "Filters": {
          if (r.readNil()) return true;
          const n = r.readArrayHeader();
          for (let i = 0; i < n; i++) t.filters.push(r.readBytes());
          return true;
        }
        case "Flags":
          t.flags = r.readUint(MAX_U32);
          return true;
        case "RelayFactor":
          t.relayFactor = r.readUint(0xff);
          return true;
        case "Timeout":
          t.timeoutNs = r.readInteger();
          return true;
        case "Name":
          t.name = r.readString();
          return true;
        case "Payload":
          t.payload = r.readBytes();
          return true;
        default:
          return false;
      }
    },
    q,
  );
  return q;
}

/** `05` + the response struct. */
export function encodeSerfQueryResponse(resp: SerfQueryResponse): Uint8Array {
  return new MsgpackWriter()
    .u8(SerfQueryType.queryResponse)
    .struct([
      ["Flags", (w) => w.int(resp.flags)],
      ["From", (w) => w.str(resp.from)],
      ["ID", (w) => w.int(resp.id)],
      ["LTime", (w) => w.int(resp.ltime)],
      ["Payload", (w) => (resp.payload.length === 0 ? w.nil() : w.bytes(resp.payload))],
    ])
    .finish();
}

/** A query response user message (first byte 5). Throws WireError. */
export function decodeSerfQueryResponse(payload: Uint8Array): SerfQueryResponse {
  if (payload[0] !== SerfQueryType.queryResponse) throw new WireError("serf query response: wrong type byte");
  const resp: SerfQueryResponse = { ltime: 0n, id: 0, from: "", flags: 0, payload: new Uint8Array(0) };
  new MsgpackReader(payload, 1).readStruct<SerfQueryResponse>(
    RESPONSE_FIELDS,
    (key, t, r) => {
      switch (key) {
        case "LTime":
          t.ltime = readLTime(r);
          return true;
        case "ID":
          t.id = r.readUint(MAX_U32);
          return true;
        case "From":
          t.from = r.readString();
          return true;
        case "Flags":
          t.flags = r.readUint(MAX_U32);
          return true;
        case "Payload":
          t.payload = r.readBytes();
          return true;
        default:
          return false;
      }
    },
    resp,
  );
  return resp;
}

/** The payload of a key query: `07` + `{Key}`. list-keys sends an empty key. */
export function encodeKeyRequest(key: Uint8Array): Uint8Array {
  return new MsgpackWriter()
    .u8(SerfQueryType.keyRequest)
    .struct([["Key", (w) => w.bytes(key)]])
    .finish();
}

/** The key of a key query's payload. Throws WireError. */
export function decodeKeyRequest(payload: Uint8Array): Uint8Array {
  if (payload[0] !== SerfQueryType.keyRequest) throw new WireError("key request: wrong type byte");
  let key: Uint8Array = new Uint8Array(0);
  new MsgpackReader(payload, 1).readStruct<undefined>(["Key"], (name, _t, r) => {
    if (name !== "Key") return false;
    key = r.readBytes();
    return true;
  });
  return key;
}

/** The payload of a key query's response: `08` + nodeKeyResponse. */
export function encodeKeyResponse(resp: NodeKeyResponse): Uint8Array {
  return new MsgpackWriter()
    .u8(SerfQueryType.keyResponse)
    .struct([
      [
        "Keys",
        (w) => {
          if (resp.keys.length === 0) return w.nil();
          w.arrayHeader(resp.keys.length);
          for (const k of resp.keys) w.str(k);
          return w;
        },
      ],
      ["Message", (w) => w.str(resp.message)],
      ["PrimaryKey", (w) => w.str(resp.primaryKey)],
      ["Result", (w) => w.bool(resp.result)],
    ])
    .finish();
}

/** A key query's response payload. Throws WireError. */
export function decodeKeyResponse(payload: Uint8Array): NodeKeyResponse {
  if (payload[0] !== SerfQueryType.keyResponse) throw new WireError("key response: wrong type byte");
  const resp: NodeKeyResponse = { result: false, message: "", keys: [], primaryKey: "" };
  new MsgpackReader(payload, 1).readStruct<NodeKeyResponse>(
    KEY_RESPONSE_FIELDS,
    (key, t, r) => {
      switch (key) {
        case "Result":
          t.result = r.readBool();
          return true;
        case "Message":
          t.message = r.readString();
          return true;
        case "Keys": {
          if (r.readNil()) return true;
          const n = r.readArrayHeader();
          for (let i = 0; i < n; i++) t.keys.push(r.readString());
          return true;
        }
        case "PrimaryKey":
          t.primaryKey = r.readString();
          return true;
        default:
          return false;
      }
    },
    resp,
  );
  return resp;
}

/**
 * Whether a query's filters select a node of this name and these tags: a node filter lists
 * names, a tag filter holds a tag name and a regular expression its value must match. An
 * unreadable or unknown filter selects nobody, as in Serf.
 */
export function filtersSelect(
  filters: readonly Uint8Array[],
  name: string,
  tags: Readonly<Record<string, string>>,
): boolean {
  for (const filter of filters) {
    try {
      const r = new MsgpackReader(filter, 1);
      if (filter[0] === QueryFilterType.node) {
        const n = r.readArrayHeader();
        let found = false;
        for (let i = 0; i < n; i++) if (r.readString() === name) found = true;
        if (!found) return false;
      } else if (filter[0] === QueryFilterType.tag) {
        const f = { tag: "", expr: "" };
        r.readStruct<typeof f>(
          ["Tag", "Expr"],
          (key, t, rr) => {
            if (key === "Tag") t.tag = rr.readString();
            else if (key === "Expr") t.expr = rr.readString();
            else return false;
            return true;
          },
          f,
        );
        if (!new RegExp(f.expr).test(tags[f.tag] ?? "")) return false;
      } else return false;
    } catch {
      return false;
    }
  }
  return true;
}

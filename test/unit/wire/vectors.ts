/**
 * Loads the captured memberlist vectors (test/fixtures/memberlist, see its README) and
 * turns their `decoded` JSON into the messages heck's codec should produce.
 */

import { readdirSync, readFileSync } from "node:fs";
import { ipToBytes } from "../../../src/wire/ip.js";
import type { Message, NodeStateCode, PushNodeState } from "../../../src/wire/messages.js";

export const VECTORS_ROOT = new URL("../../fixtures/memberlist/", import.meta.url);
export const VECTOR_DIRS = ["plain", "encrypted", "foreign", "edge"] as const;

/** Node names of the real Serf agents in the captures; everything else was written by a script. */
const SERF_AGENTS = ["alpha", "bravo", "charlie", "delta", "plainnode", "encnode"];

// The vector JSON is free-form; tests read it through these loose shapes.
// biome-ignore lint/suspicious/noExplicitAny: parsed JSON of varying shape
export type Json = any;

export interface Vector {
  id: string;
  dir: (typeof VECTOR_DIRS)[number];
  bin: Uint8Array;
  json: Json;
  stream: boolean;
  encrypted: boolean;
  /** True when a Serf agent wrote these bytes (so heck must reproduce them exactly). */
  serfWritten: boolean;
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

export function loadVectors(): Vector[] {
  const out: Vector[] = [];
  for (const dir of VECTOR_DIRS) {
    const folder = new URL(`${dir}/`, VECTORS_ROOT);
    for (const file of readdirSync(folder).sort()) {
      if (!file.endsWith(".bin")) continue;
      const name = file.slice(0, -4);
      const json = JSON.parse(readFileSync(new URL(`${name}.json`, folder), "utf8"));
      const from: string = json.from ?? "";
      out.push({
        id: `${dir}/${name}`,
        dir,
        bin: new Uint8Array(readFileSync(new URL(file, folder))),
        json,
        stream: json.transport === "tcp-stream",
        encrypted: json.encrypted === true,
        // plain/ and encrypted/ hold only agent traffic; a TCP initiator is named by its port alone.
        serfWritten:
          dir === "plain" || dir === "encrypted" || SERF_AGENTS.some((agent) => from.endsWith(`(${agent})`)),
      });
    }
  }
  return out;
}

export function keysJson(): Json {
  return JSON.parse(readFileSync(new URL("keys.json", VECTORS_ROOT), "utf8"));
}

/** The hex of the first stage whose description starts with `prefix`. */
export function stageHex(v: Vector, prefix: string): string | undefined {
  const stages: Json[] = v.json.stages ?? [];
  return stages.find((s) => typeof s.stage === "string" && s.stage.startsWith(prefix))?.hex;
}

export const DECRYPTED_STAGE = "after AES-GCM open";

/** The plaintext datagram or stream message: the capture itself, or its recorded decryption. */
export function recordedPlaintext(v: Vector): Uint8Array {
  if (!v.encrypted) return v.bin;
  const hex = stageHex(v, DECRYPTED_STAGE);
  if (hex === undefined) throw new Error(`${v.id}: no decrypted stage`);
  return fromHex(hex);
}

function bytesField(mp: Json, key: string): Uint8Array {
  const f = mp?.fields?.[key];
  if (f === undefined || f.fmt === "nil") return new Uint8Array(0);
  if (Array.isArray(f.items)) return Uint8Array.from(f.items.map((i: Json) => i.value));
  return fromHex(f.hex);
}

function withSource(fields: Json): { sourceAddr?: Uint8Array; sourceNode?: string; sourcePort?: number } {
  return {
    ...(fields.SourceAddr !== undefined ? { sourceAddr: ipToBytes(fields.SourceAddr) } : {}),
    ...(fields.SourceNode !== undefined ? { sourceNode: fields.SourceNode } : {}),
    ...(fields.SourcePort !== undefined ? { sourcePort: fields.SourcePort } : {}),
  };
}

function nodeState(s: Json): PushNodeState {
  const f = s.fields;
  return {
    name: f.Name,
    addr: ipToBytes(f.Addr),
    port: f.Port,
    meta: bytesField(s.msgpack, "Meta"),
    incarnation: f.Incarnation,
    state: Number.parseInt(String(f.State), 10) as NodeStateCode,
    vsn: Uint8Array.from(f.Vsn),
  };
}

/**
 * The message a leaf of the decoded tree describes. User payloads are not spelled out in the JSON
 * (only their Serf decoding), so they are checked separately through `expectedUser`.
 */
export function expectedMessage(node: Json, userPayload: Uint8Array): Message {
  const f = node.fields ?? {};
  switch (node.type) {
    case 0:
      return { type: "ping", seqNo: f.SeqNo, node: f.Node ?? "", ...withSource(f) };
    case 1:
      return {
        type: "indirectPing",
        seqNo: f.SeqNo,
        target: ipToBytes(f.Target),
        port: f.Port,
        node: f.Node,
        nack: f.Nack,
        ...withSource(f),
      };
    case 2:
      return {
        type: "ack",
        seqNo: f.SeqNo,
        payload: f.Payload === null ? null : bytesField(node.msgpack, "Payload"),
      };
    case 11:
      return { type: "nack", seqNo: f.SeqNo };
    case 13:
      return { type: "err", error: f.Error };
    case 4:
      return {
        type: "alive",
        incarnation: f.Incarnation,
        node: f.Node,
        addr: ipToBytes(f.Addr),
        port: f.Port,
        meta: bytesField(node.msgpack, "Meta"),
        vsn: Uint8Array.from(f.Vsn),
      };
    case 3:
    case 5:
      return {
        type: node.type === 3 ? "suspect" : "dead",
        incarnation: f.Incarnation,
        node: f.Node,
        from: f.From,
      };
    case 6:
      return {
        type: "pushPull",
        join: node.header.Join,
        nodes: node.states.map(nodeState),
        userState: userPayload,
      };
    case 8:
      return { type: "user", payload: userPayload };
    default:
      throw new Error(`vector describes unknown type ${node.type}`);
  }
}

/** The leaves of a packet's decoded tree (CRC, compress and compound unwrapped), in order. */
export function packetLeaves(node: Json): Json[] {
  if (node.type === 12 || node.type === 9) return packetLeaves(node.inner);
  if (node.type === 7) return node.parts.flatMap((p: Json) => (typeof p === "string" ? [] : packetLeaves(p)));
  return [node];
}

/**
 * The bytes of every leaf message of a packet vector, from its recorded stages: the compound
 * parts if there is a compound, else the innermost unwrapped form.
 */
export function packetLeafBytes(v: Vector): Uint8Array[] {
  const stages: Json[] = v.json.stages ?? [];
  const parts = stages.find((s) => Array.isArray(s.parts_hex));
  if (parts) return parts.parts_hex.map(fromHex);
  const inner =
    stageHex(v, "after LZW decompression") ?? stageHex(v, "after stripping hasCrc header") ?? undefined;
  return [inner === undefined ? recordedPlaintext(v) : fromHex(inner)];
}

/** The user-state bytes of a push-pull stream vector. */
export function pushPullUserState(v: Vector): Uint8Array {
  const stages: Json[] = v.json.stages ?? [];
  const sections = stages.find((s) => s.stage === "push-pull sections");
  return fromHex(sections?.user_state_hex ?? "");
}

/** The innermost plaintext of a stream vector (decrypted, decompressed). */
export function streamInnerBytes(v: Vector): Uint8Array {
  const hex = stageHex(v, "after LZW decompression");
  return hex === undefined ? recordedPlaintext(v) : fromHex(hex);
}

/**
 * A parser of the Server-Sent Events wire format (HTML Living Standard, "Parsing an event
 * stream"), from chunks of bytes to messages. Pure: it reads an async iterable and owns no socket.
 */

export interface ServerSentEvent {
  /** The `event:` field; "message" when the message has none. */
  event: string;
  /** The `data:` lines, joined by "\n". */
  data: string;
  /** The last `id:` seen on the stream, "" if none. */
  id: string;
}

/**
 * Yields each message of the stream as its blank line arrives. Lines end in LF, CRLF or CR (a CR
 * at the end of a chunk waits for the next chunk to tell which); comment lines (`: ...`, the
 * heartbeat) and a message without data are skipped; an unfinished message at the end is dropped.
 */
export async function* parseEventStream(
  chunks: AsyncIterable<Uint8Array | string>,
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const decoder = new TextDecoder("utf-8");
  let buffer = "";
  let event = "";
  let data: string[] = [];
  let lastId = "";
  let first = true;

  const takeLine = (line: string): ServerSentEvent | undefined => {
    if (line === "") {
      const message =
        data.length === 0 ? undefined : { event: event || "message", data: data.join("\n"), id: lastId };
      event = "";
      data = [];
      return message;
    }
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id" && !value.includes("\0")) lastId = value;
    return undefined;
  };

  for await (const chunk of chunks) {
    buffer += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    if (first && buffer.length > 0) {
      // A byte order mark may start the stream and is not part of the first field.
      if (buffer.charCodeAt(0) === 0xfeff) buffer = buffer.slice(1);
      first = false;
    }
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      // A CR as the last character may be the first half of a CRLF split across chunks.
      if (c === 13 && i === buffer.length - 1) break;
      const message = takeLine(buffer.slice(start, i));
      if (c === 13 && buffer.charCodeAt(i + 1) === 10) i++;
      start = i + 1;
      if (message) yield message;
    }
    buffer = buffer.slice(start);
  }
  // The stream ended on a CR: that CR ended a line.
  if (buffer.endsWith("\r")) {
    const message = takeLine(buffer.slice(0, -1));
    if (message) yield message;
  }
}

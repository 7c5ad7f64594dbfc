import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { describeError } from "../../../src/adapters/undici-prober.js";
import { type ProbeErrorKind, probeErrorKind } from "../../../src/core/checks/probe-error.js";

/** A system error as Node raises it: a code, and the syscall that failed. */
function systemError(code: string, syscall?: string): Error {
  return Object.assign(new Error(`${syscall ?? "x"} ${code}`), syscall ? { code, syscall } : { code });
}

describe("probeErrorKind", () => {
  it("sorts the prober's own wording into its kinds", () => {
    const table: Array<[string, ProbeErrorKind]> = [
      ["connect timeout after 500 ms", "timeout"],
      ["DNS lookup timeout after 2000 ms", "timeout"],
      ["TLS handshake timeout after 2000 ms", "timeout"],
      ["response headers timeout after 2000 ms", "timeout"],
      ["body timeout after 2000 ms", "timeout"],
      ["status 503 not in 200-399", "status"],
      ['body lacks "ok"', "body"],
      ["target 127.0.0.1 refused: loopback", "denied"],
      ["prober closed", "other"],
      ["something nobody foresaw", "other"],
    ];
    for (const [error, kind] of table) assert.equal(probeErrorKind(error), kind, error);
  });

  it("sorts what describeError makes of system and undici errors", () => {
    const table: Array<[Error, ProbeErrorKind]> = [
      [systemError("ENOTFOUND", "getaddrinfo"), "dns"],
      [systemError("EAI_AGAIN", "getaddrinfo"), "dns"],
      [systemError("ECONNREFUSED", "connect"), "connect"],
      [systemError("EHOSTUNREACH", "connect"), "connect"],
      [systemError("ENETUNREACH", "connect"), "connect"],
      [systemError("ECONNRESET", "read"), "closed"],
      [systemError("EPIPE", "write"), "closed"],
      [systemError("ETIMEDOUT", "connect"), "timeout"],
      [systemError("UND_ERR_CONNECT_TIMEOUT"), "timeout"],
      [systemError("UND_ERR_SOCKET"), "closed"],
      [systemError("UND_ERR_RES_CONTENT_LENGTH_MISMATCH"), "closed"],
      [systemError("UND_ERR_HEADERS_OVERFLOW"), "protocol"],
      [systemError("HPE_INVALID_CONSTANT"), "protocol"],
      [systemError("CERT_HAS_EXPIRED"), "tls"],
      [systemError("DEPTH_ZERO_SELF_SIGNED_CERT"), "tls"],
      [systemError("ERR_TLS_CERT_ALTNAME_INVALID"), "tls"],
      [new AggregateError([systemError("ECONNREFUSED", "connect")]), "connect"],
    ];
    for (const [err, kind] of table) {
      const text = describeError(err);
      assert.equal(probeErrorKind(text), kind, `${text} (from ${(err as { code?: string }).code})`);
    }
  });
});

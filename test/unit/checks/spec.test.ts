import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { isOriginSpec, parseOriginSpec, validateOriginId } from "../../../src/core/checks/spec.js";
import { ValidationError } from "../../../src/errors.js";

/** Asserts that parsing `input` throws a ValidationError with this code and field, and returns it. */
function refused(input: unknown, field: string | undefined, code = "invalid_input"): ValidationError {
  let caught: unknown;
  try {
    parseOriginSpec(input);
  } catch (err) {
    caught = err;
  }
  if (!(caught instanceof ValidationError)) {
    assert.fail(
      `expected ${JSON.stringify(input)} to be refused with a ValidationError, got ${String(caught)}`,
    );
  }
  assert.equal(caught.code, code);
  assert.equal(caught.field, field);
  return caught;
}

const url = "http://127.0.0.1:8080/health";

describe("parseOriginSpec", () => {
  it("fills every default of the contract", () => {
    assert.deepEqual(parseOriginSpec({ url }), {
      url,
      method: "GET",
      intervalMs: 5000,
      timeoutMs: 2000,
      expectStatus: ["200-399"],
      healthyThreshold: 2,
      unhealthyThreshold: 3,
      headers: {},
    });
  });

  it("keeps every field the user gave", () => {
    const full = {
      url: "https://example.com/",
      method: "HEAD",
      intervalMs: 1000,
      timeoutMs: 500,
      expectStatus: [200, "204", "300-302"],
      healthyThreshold: 1,
      unhealthyThreshold: 10,
      headers: { Authorization: "Bearer x", "X-Trace": "1" },
      bodyContains: "ok",
    };
    assert.deepEqual(parseOriginSpec(full), full);
  });

  it("defaults timeoutMs to min(2000, intervalMs)", () => {
    assert.equal(parseOriginSpec({ url, intervalMs: 1000 }).timeoutMs, 1000);
    assert.equal(parseOriginSpec({ url, intervalMs: 100 }).timeoutMs, 100);
    assert.equal(parseOriginSpec({ url, intervalMs: 2500 }).timeoutMs, 2000);
  });

  it("does not share default arrays or objects between specs", () => {
    const a = parseOriginSpec({ url });
    a.expectStatus.push(500);
    a.headers.x = "y";
    assert.deepEqual(parseOriginSpec({ url }).expectStatus, ["200-399"]);
    assert.deepEqual(parseOriginSpec({ url }).headers, {});
  });

  const bounds: Array<[string, number, number]> = [
    ["intervalMs", 100, 3_600_000],
    ["timeoutMs", 10, 60_000],
    ["healthyThreshold", 1, 10],
    ["unhealthyThreshold", 1, 10],
  ];
  for (const [field, min, max] of bounds) {
    it(`accepts ${field} at ${min} and ${max} and refuses just outside`, () => {
      const base = field === "timeoutMs" ? { url, intervalMs: 3_600_000 } : { url };
      assert.equal(parseOriginSpec({ ...base, [field]: min })[field as "intervalMs"], min);
      assert.equal(parseOriginSpec({ ...base, [field]: max })[field as "intervalMs"], max);
      const below = refused({ ...base, [field]: min - 1 }, field);
      assert.match(below.message, new RegExp(`${field} must be an integer from ${min} to ${max}`));
      refused({ ...base, [field]: max + 1 }, field);
      refused({ ...base, [field]: min + 0.5 }, field);
      refused({ ...base, [field]: String(min) }, field);
    });
  }

  it("refuses timeoutMs above intervalMs and names timeoutMs", () => {
    const err = refused({ url, intervalMs: 1000, timeoutMs: 1001 }, "timeoutMs");
    assert.match(err.message, /timeoutMs \(1001\) must not be above intervalMs \(1000\)/);
    assert.equal(parseOriginSpec({ url, intervalMs: 1000, timeoutMs: 1000 }).timeoutMs, 1000);
  });

  it("refuses an unknown field with code unknown_field, naming it and the likely intent", () => {
    const err = refused({ url, intervalMS: 1000 }, "intervalMS", "unknown_field");
    assert.match(err.message, /unknown field "intervalMS"/);
    assert.match(err.message, /did you mean "intervalMs"/);
    const other = refused({ url, colour: "red" }, "colour", "unknown_field");
    assert.doesNotMatch(other.message, /did you mean/);
  });

  it("reports an unknown field before any other problem", () => {
    refused({ url: "ftp://x", timeout_ms: 5 }, "timeout_ms", "unknown_field");
  });

  it("requires url, absolute, with scheme http: or https:", () => {
    assert.match(refused({}, "url").message, /url/);
    for (const bad of ["ftp://example.com/", "file:///etc/passwd", "example.com", "/health", "http://", 42]) {
      refused({ url: bad }, "url");
    }
    assert.equal(parseOriginSpec({ url: "HTTPS://Example.com" }).url, "HTTPS://Example.com");
  });

  it("refuses a spec that is not an object", () => {
    for (const bad of [null, 1, "x", [], undefined]) {
      assert.match(refused(bad, undefined).message, /origin spec must be a JSON object/);
    }
  });

  it("accepts only GET and HEAD", () => {
    refused({ url, method: "POST" }, "method");
    refused({ url, method: "get" }, "method");
  });

  it("validates each expectStatus item and names its index", () => {
    assert.match(refused({ url, expectStatus: [200, "600"] }, "expectStatus").message, /expectStatus\[1\]/);
    refused({ url, expectStatus: [] }, "expectStatus");
    refused({ url, expectStatus: "200-399" }, "expectStatus");
    refused({ url, expectStatus: ["399-200"] }, "expectStatus");
  });

  it("takes headers as an object of strings with valid names and no line breaks", () => {
    refused({ url, headers: { "X-A": 1 } }, "headers");
    refused({ url, headers: ["a"] }, "headers");
    refused({ url, headers: { "Bad Name": "v" } }, "headers");
    refused({ url, headers: { "X-A": "v\r\nInjected: 1" } }, "headers");
  });

  it("takes bodyContains only as a string", () => {
    refused({ url, bodyContains: 1 }, "bodyContains");
    assert.equal(parseOriginSpec({ url, bodyContains: "" }).bodyContains, "");
  });
});

const PEM = `-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2Vy\n-----END CERTIFICATE-----\n`;

describe("parseOriginSpec: the checks of issue 8", () => {
  it("accepts tcp://host:port connect checks and refuses HTTP-only fields on them", () => {
    const spec = parseOriginSpec({ url: "tcp://db.internal:5432" });
    assert.equal(spec.url, "tcp://db.internal:5432");
    refused({ url: "tcp://db.internal" }, "url");
    refused({ url: "tcp://db.internal:5432/path" }, "url");
    refused({ url: "tcp://db.internal:5432", bodyContains: "x" }, "bodyContains");
    refused({ url: "tcp://db.internal:5432", headers: { A: "b" } }, "headers");
    refused({ url: "tcp://db.internal:5432", followRedirects: true }, "followRedirects");
  });

  it("keeps the optional probing fields, storing booleans only when true", () => {
    const full = {
      url: "https://example.com/",
      intervalMs: 10_000,
      fastIntervalMs: 1000,
      downIntervalMs: 30_000,
      timeoutMs: 1000,
      hostHeader: "api.example.com:8443",
      followRedirects: true,
      freshConnection: true,
      tlsCa: PEM,
      tlsServerName: "api.example.com",
    };
    assert.deepEqual(parseOriginSpec(full), { ...parseOriginSpec({ url: full.url }), ...full });
    const off = parseOriginSpec({ url, followRedirects: false, freshConnection: false });
    assert.equal("followRedirects" in off, false);
    assert.equal("freshConnection" in off, false);
    assert.equal(parseOriginSpec({ url: "https://x/", tlsSkipVerify: true }).tlsSkipVerify, true);
  });

  it("takes TLS fields only on https: origins, and not a pinned CA with verification off", () => {
    refused({ url, tlsSkipVerify: true }, "tlsSkipVerify");
    refused({ url: "https://x/", tlsCa: "not a certificate" }, "tlsCa");
    refused({ url: "https://x/", tlsSkipVerify: true, tlsCa: PEM }, "tlsCa");
    refused({ url: "https://x/", tlsServerName: "bad name" }, "tlsServerName");
  });

  it("refuses a Host header override that is not a host", () => {
    refused({ url, hostHeader: "a b" }, "hostHeader");
    refused({ url, hostHeader: "x\r\nInjected: 1" }, "hostHeader");
    assert.equal(parseOriginSpec({ url, hostHeader: "[::1]:80" }).hostHeader, "[::1]:80");
  });

  it("bounds fastIntervalMs and downIntervalMs, and keeps timeoutMs within each", () => {
    refused({ url, fastIntervalMs: 99 }, "fastIntervalMs");
    refused({ url, downIntervalMs: 3_600_001 }, "downIntervalMs");
    refused({ url, intervalMs: 5000, fastIntervalMs: 500, timeoutMs: 1000 }, "timeoutMs");
    assert.equal(parseOriginSpec({ url, intervalMs: 5000, fastIntervalMs: 500 }).timeoutMs, 500);
  });

  it("limits URL length, header count and size, bodyContains length and expectStatus entries", () => {
    refused({ url: `http://x/${"a".repeat(2048)}` }, "url");
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`X-${i}`, "v"]));
    assert.match(refused({ url, headers: many }, "headers").message, /at most 32/);
    refused({ url, headers: { "X-Big": "v".repeat(8200) } }, "headers");
    refused({ url, bodyContains: "x".repeat(1025) }, "bodyContains");
    refused({ url, expectStatus: Array.from({ length: 33 }, () => 200) }, "expectStatus");
    assert.equal(parseOriginSpec({ url, bodyContains: "x".repeat(1024) }).bodyContains?.length, 1024);
  });
});

describe("isOriginSpec", () => {
  it("accepts what parseOriginSpec returns", () => {
    assert.ok(isOriginSpec(parseOriginSpec({ url })));
    assert.ok(isOriginSpec(parseOriginSpec({ url, bodyContains: "x", headers: { A: "b" } })));
    assert.ok(isOriginSpec(parseOriginSpec({ url: "tcp://h:1" })));
    const https = { url: "https://h/", fastIntervalMs: 2000, tlsCa: PEM, followRedirects: true };
    assert.ok(isOriginSpec(parseOriginSpec(https)));
  });

  it("refuses peer specs that break the limits or the scheme rules", () => {
    const spec = parseOriginSpec({ url });
    assert.equal(isOriginSpec({ ...spec, followRedirects: false }), false);
    assert.equal(isOriginSpec({ ...spec, tlsSkipVerify: true }), false);
    assert.equal(isOriginSpec({ ...spec, url: "tcp://h:1", bodyContains: "x" }), false);
    assert.equal(isOriginSpec({ ...spec, fastIntervalMs: 100 }), false);
    assert.equal(isOriginSpec({ ...spec, bodyContains: "x".repeat(2000) }), false);
  });

  it("refuses incomplete, out-of-bounds or extended specs", () => {
    const spec = parseOriginSpec({ url });
    assert.equal(isOriginSpec({ url }), false);
    assert.equal(isOriginSpec({ ...spec, timeoutMs: 6000 }), false);
    assert.equal(isOriginSpec({ ...spec, extra: 1 }), false);
    assert.equal(isOriginSpec({ ...spec, url: "gopher://x" }), false);
    assert.equal(isOriginSpec({ ...spec, expectStatus: ["2xx"] }), false);
    assert.equal(isOriginSpec({ ...spec, headers: { A: 1 } }), false);
    assert.equal(isOriginSpec(null), false);
  });
});

describe("validateOriginId", () => {
  it("accepts 1-128 characters of [A-Za-z0-9._:-]", () => {
    for (const id of ["a", "api.example.com:443", "A_b-c.d:e", "x".repeat(128)]) {
      assert.equal(validateOriginId(id), id);
    }
  });

  it("refuses anything else with field id", () => {
    for (const id of ["", "x".repeat(129), "a/b", "a b", "café", "a\nb", 12, null]) {
      assert.throws(
        () => validateOriginId(id),
        (err: unknown) =>
          err instanceof ValidationError && err.field === "id" && err.code === "invalid_input",
      );
    }
  });
});

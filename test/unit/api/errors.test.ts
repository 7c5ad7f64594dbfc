import * as assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, toErrorResponse } from "../../../src/api/errors.js";
import { HeckError, NotFoundError, ValidationError } from "../../../src/errors.js";

test("HeckError codes map to the contract's statuses", () => {
  const cases: Array<[HeckError, number]> = [
    [new ValidationError("bad", "url"), 400],
    [new ValidationError("typo", "intervalMS", "unknown_field"), 400],
    [new NotFoundError("gone"), 404],
    [new HeckError("unauthorized", "who"), 401],
    [new HeckError("body_too_large", "big"), 413],
    [new HeckError("unsupported_media_type", "xml"), 415],
    [new HeckError("internal", "oops"), 500],
  ];
  for (const [err, status] of cases) {
    const res = toErrorResponse(err);
    assert.equal(res.status, status, err.code);
    assert.equal(res.body.error.code, err.code);
    assert.equal(res.body.error.message, err.message);
  }
});

test("a validation error carries its field", () => {
  assert.deepEqual(
    toErrorResponse(new ValidationError("unknown field", "intervalMS", "unknown_field")).body,
    {
      error: { code: "unknown_field", message: "unknown field", field: "intervalMS" },
    },
  );
});

test("an ApiError keeps its status, field and details", () => {
  const details = [{ index: 2, field: "origins[2].url", code: "invalid_input", message: "origins[2]: url" }];
  const res = toErrorResponse(
    new ApiError(400, "invalid_input", "origins[2]: url", { field: "origins[2].url", details }),
  );
  assert.equal(res.status, 400);
  assert.deepEqual(res.body.error.details, details);
});

test("an unexpected throw is a 500 whose message stays in the log", () => {
  const res = toErrorResponse(new Error("ENOENT /var/lib/heck/secret"));
  assert.equal(res.status, 500);
  assert.equal(res.internal, true);
  assert.equal(res.body.error.code, "internal");
  assert.doesNotMatch(res.body.error.message, /secret/);
});

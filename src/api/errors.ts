import { type ErrorCode, HeckError, ValidationError } from "../errors.js";

/**
 * The API's error vocabulary: every failure leaves as
 * `{"error": {"code", "message", "field"?, "details"?}}` (contract.md "HTTP API"). Codes are
 * stable snake_case strings that scripts may branch on; messages are for humans and may change.
 */

/** Codes the HTTP layer adds to the shared {@link ErrorCode}s: problems with the request itself. */
export type ApiErrorCode = ErrorCode | "invalid_json";

/** One refused item of a batch, so that a client can point at every bad entry in one round trip. */
export interface ErrorDetail {
  index: number;
  field: string | undefined;
  code: string;
  message: string;
}

export interface ErrorBody {
  error: { code: string; message: string; field?: string; details?: ErrorDetail[] };
}

/** An error raised by the HTTP layer with its status decided at the throw site. */
export class ApiError extends Error {
  readonly statusCode: number;
  readonly code: ApiErrorCode;
  readonly field: string | undefined;
  readonly details: ErrorDetail[] | undefined;
  constructor(
    statusCode: number,
    code: ApiErrorCode,
    message: string,
    extra: { field?: string; details?: ErrorDetail[] } = {},
  ) {
    super(message);
    this.name = "ApiError";
    this.statusCode = statusCode;
    this.code = code;
    this.field = extra.field;
    this.details = extra.details;
  }
}

/** HeckError codes to HTTP statuses. */
const STATUS_BY_CODE: Record<ErrorCode, number> = {
  invalid_input: 400,
  unknown_field: 400,
  config_invalid: 400,
  target_denied: 400,
  // The request is valid; the cluster's state (its origin count) is what refuses it.
  origin_limit_reached: 409,
  // The node runs without gossip encryption: a keyring operation has nothing to change.
  keyring_unavailable: 409,
  unauthorized: 401,
  not_found: 404,
  body_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  // Only a peer can send a malformed packet, so when one surfaces through the API (a join whose
  // peer answered garbage) the fault lies upstream of this node.
  malformed_packet: 502,
};

/**
 * Fastify's own request errors, by their `code`. Anything Fastify raises that is not listed keeps
 * its status and gets a generic code from {@link codeForStatus}.
 */
const FASTIFY_ERRORS: Record<string, { status: number; code: ApiErrorCode; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: "body_too_large", message: "request body is too large" },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    code: "unsupported_media_type",
    message: "request bodies must be application/json",
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    code: "invalid_input",
    message: "request body length does not match Content-Length",
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    status: 400,
    code: "invalid_json",
    message: "request body is not valid JSON",
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: "invalid_json", message: "request body is empty" },
  FST_ERR_BAD_URL: { status: 400, code: "invalid_input", message: "the request URL is malformed" },
};

function codeForStatus(status: number): ApiErrorCode {
  switch (status) {
    case 401:
      return "unauthorized";
    case 404:
      return "not_found";
    case 413:
      return "body_too_large";
    case 415:
      return "unsupported_media_type";
    default:
      return status >= 500 ? "internal" : "invalid_input";
  }
}

export function errorBody(
  code: string,
  message: string,
  extra: { field?: string | undefined; details?: ErrorDetail[] | undefined } = {},
): ErrorBody {
  const error: ErrorBody["error"] = { code, message };
  if (extra.field !== undefined) error.field = extra.field;
  if (extra.details !== undefined) error.details = extra.details;
  return { error };
}

/**
 * Maps anything thrown while serving a request to a status and the contract's error JSON.
 * `internal` marks an unexpected throw: its message may carry internals (paths, SQL), so the
 * client gets a generic text and the caller logs the error.
 */
export function toErrorResponse(err: unknown): { status: number; body: ErrorBody; internal: boolean } {
  if (err instanceof ApiError) {
    return {
      status: err.statusCode,
      body: errorBody(err.code, err.message, { field: err.field, details: err.details }),
      internal: false,
    };
  }
  if (err instanceof HeckError) {
    const field = err instanceof ValidationError ? err.field : undefined;
    return {
      status: STATUS_BY_CODE[err.code],
      body: errorBody(err.code, err.message, { field }),
      internal: false,
    };
  }
  const fastifyCode = (err as { code?: unknown } | null)?.code;
  const known = typeof fastifyCode === "string" ? FASTIFY_ERRORS[fastifyCode] : undefined;
  if (known) {
    return {
      status: known.status,
      body: errorBody(known.code, known.message),
      internal: false,
    };
  }
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return { status, body: errorBody(codeForStatus(status), (err as Error).message), internal: false };
  }
  return { status: 500, body: errorBody("internal", "internal error; see the agent's log"), internal: true };
}

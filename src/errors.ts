/**
 * Stable error codes. The HTTP API maps them to statuses and the CLI to exit codes; a malformed
 * peer packet is never thrown out of the event loop but counted and logged.
 */
export type ErrorCode =
  | "invalid_input"
  | "unknown_field"
  | "not_found"
  | "unauthorized"
  | "body_too_large"
  | "unsupported_media_type"
  | "malformed_packet"
  | "config_invalid"
  | "target_denied"
  | "origin_limit_reached"
  | "keyring_unavailable"
  | "internal";

export class HeckError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "HeckError";
  }
}

/** Bad bytes from a peer: decoders throw it, the transport counts and drops the packet. */
export class WireError extends HeckError {
  constructor(message: string) {
    super("malformed_packet", message);
    this.name = "WireError";
  }
}

/**
 * Peer input refused for exceeding a bound rather than for being malformed: a packet that
 * decompresses beyond a packet's worth, a stream beyond its byte cap. Counted as a refusal.
 */
export class WireLimitError extends WireError {
  constructor(message: string) {
    super(message);
    this.name = "WireLimitError";
  }
}

export class ValidationError extends HeckError {
  readonly field: string | undefined;
  constructor(message: string, field?: string, code: ErrorCode = "invalid_input") {
    super(code, message);
    this.field = field;
    this.name = "ValidationError";
  }
}

export class ConfigError extends HeckError {
  constructor(message: string) {
    super("config_invalid", message);
    this.name = "ConfigError";
  }
}

export class NotFoundError extends HeckError {
  constructor(message: string) {
    super("not_found", message);
    this.name = "NotFoundError";
  }
}

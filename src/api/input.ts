import { ValidationError } from "../errors.js";

/**
 * Shape checks for the small request envelopes (`{"addresses": [...]}`, `{"origins": [...]}`,
 * query strings). Origin specs themselves are validated by `parseOriginSpec`. As there, an unknown
 * field is refused by name rather than ignored, so that a typo never silently changes the meaning.
 */

export function requireObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ValidationError(`${where} must be a JSON object`, where === "body" ? undefined : where);
  }
  return value as Record<string, unknown>;
}

export function refuseUnknownFields(
  object: Record<string, unknown>,
  allowed: readonly string[],
  prefix = "",
): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) {
      throw new ValidationError(`${prefix}${key}: unknown field`, `${prefix}${key}`, "unknown_field");
    }
  }
}

export function requireArray(value: unknown, field: string): unknown[] {
  if (!Array.isArray(value)) throw new ValidationError(`${field}: must be an array`, field);
  return value;
}

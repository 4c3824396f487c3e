import { z } from "zod";
import { parseMoneyInput } from "./money";
import { CURRENCIES } from "../../db/schema/formats";
import { UUID_PATTERN } from "./uuid";

/**
 * Zod field types shared by both transports and the web app. Pure: no I/O, no server imports.
 */

/** Longest decimal string accepted where a number may also be sent (room for spaces and leading zeros). */
export const DECIMAL_STRING_MAX = 32;

/** A money input: JSON number or decimal string, ≥ 0, at most 2 decimals → canonical "99.00". */
export const moneyInput = z
  .union([z.number(), z.string().max(DECIMAL_STRING_MAX, `must be at most ${DECIMAL_STRING_MAX} characters`)], { error: "must be a decimal number like 99.00" })
  .transform((value, ctx) => {
    const parsed = parseMoneyInput(value);
    if (!parsed.ok) {
      ctx.addIssue({ code: "custom", message: parsed.message });
      return z.NEVER;
    }
    return parsed.value;
  })
  .meta({ description: "Decimal amount with at most 2 decimals, as a string (\"99.00\") or a JSON number", examples: ["99.00"] });

/** A decimal string on output ("99.00"). */
export const moneyOutput = z.string().meta({ description: "Decimal amount as a string", examples: ["99.00"] });

/** An ISO 8601 instant with a time zone ("2026-03-01T00:00:00Z") → Date. */
export const instantInput = z
  .string({ error: "must be an ISO 8601 date-time" })
  .max(64, "must be an ISO 8601 date-time")
  // What the pipe below enforces, said where the document can see it (JSON Schema's date-time is
  // RFC 3339: an offset is required, as here).
  .meta({ format: "date-time" })
  .pipe(z.iso.datetime({ offset: true, error: "must be an ISO 8601 date-time with a time zone, e.g. 2026-03-01T00:00:00Z" }))
  .transform((s) => new Date(s))
  .refine((d) => !Number.isNaN(d.getTime()) && d.getUTCFullYear() >= 2000, "must be a real date from the year 2000 on");

export const instantOutput = z.string().meta({ description: "ISO 8601 instant (UTC)" });

/**
 * Trimmed text with a length range; empty optional text is stored as null. The length is checked
 * after trimming (`trim()` is zod's in-place overwrite, not a transform, so the document keeps the
 * limits).
 */
export const text = (max: number, min = 0) =>
  z
    .string({ error: "must be a string" })
    .trim()
    .min(min, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
    .max(max, `must be at most ${max} characters`)
    .refine((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s), "must not contain control characters");

export const optionalText = (max: number) =>
  text(max)
    .nullable()
    .optional()
    .transform((s) => (s === "" ? null : s));

export const emailInput = z
  .string({ error: "must be a string" })
  .trim()
  .max(254, "must be at most 254 characters")
  .pipe(z.email({ error: "must be a valid email address" }));

export const optionalEmail = z
  .union([emailInput, z.literal(""), z.null()], { error: "must be a valid email address" })
  .optional()
  .transform((s) => (s === "" ? null : s));

/** An organization reference in a path or body: its id or its slug. */
export const orgRef = z.string({ error: "must be an organization id or slug" }).min(1, "must not be empty").max(128, "is too long");

/** A UUID in any case. The pattern carries no flag: the OpenAPI generator would copy it into the document. */
export const uuidString = z
  .string()
  .max(36, { error: "must be a UUID", abort: true })
  .regex(UUID_PATTERN, "must be a UUID");

export { CURRENCIES };
export const currencyInput = z.enum(CURRENCIES, { error: `must be one of ${CURRENCIES.join(", ")}` });

/** Page size: default 100, at most 500 (docs/api.md). */
export const limitInput = z.coerce
  .number({ error: "must be a whole number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(500, "must be at most 500")
  .default(100);

/** Search text for list filters: at most 128 characters, no control characters. */
export const searchText = z
  .string({ error: "must be a string" })
  .max(128, "must be at most 128 characters")
  .refine((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s), "must not contain control characters");

export const cursorInput = z.string().max(512, "is not a valid cursor").optional();

/** Rejects a field that exists on the resource but cannot be set here, naming why. */
export const forbiddenField = (message: string) =>
  z.unknown().optional().refine((v) => v === undefined, message);

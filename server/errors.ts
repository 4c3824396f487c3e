import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";
import { ZodError } from "zod";

/** Every failure a client can see has one of these codes; one table maps them to both transports. */
export const ERRORS = {
  BAD_REQUEST: { status: 400, trpc: "BAD_REQUEST", title: "Bad request" },
  VALIDATION: { status: 400, trpc: "BAD_REQUEST", title: "Validation failed" },
  UNAUTHORIZED: { status: 401, trpc: "UNAUTHORIZED", title: "Authentication required" },
  FORBIDDEN: { status: 403, trpc: "FORBIDDEN", title: "Not allowed" },
  NOT_FOUND: { status: 404, trpc: "NOT_FOUND", title: "Not found" },
  METHOD_NOT_ALLOWED: { status: 405, trpc: "METHOD_NOT_SUPPORTED", title: "Method not allowed" },
  CONFLICT: { status: 409, trpc: "CONFLICT", title: "Conflict" },
  /** A change whose effective time falls in a month already invoiced (docs/billing.md, "A closed month is closed"). */
  PERIOD_CLOSED: { status: 409, trpc: "CONFLICT", title: "Period closed" },
  PAYLOAD_TOO_LARGE: { status: 413, trpc: "PAYLOAD_TOO_LARGE", title: "Payload too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, trpc: "UNSUPPORTED_MEDIA_TYPE", title: "Unsupported media type" },
  RATE_LIMITED: { status: 429, trpc: "TOO_MANY_REQUESTS", title: "Too many requests" },
  INTERNAL: { status: 500, trpc: "INTERNAL_SERVER_ERROR", title: "Internal error" },
  UNAVAILABLE: { status: 503, trpc: "SERVICE_UNAVAILABLE", title: "Service unavailable" },
} as const satisfies Record<string, { status: number; trpc: TRPC_ERROR_CODE_KEY; title: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface PeriodClosed {
  /** The latest closed month the change would reach, `YYYY-MM`. */
  month: string;
  invoice_number: string;
  /** ISO 8601: the first instant after every closed month. */
  earliest_allowed: string;
}

export interface FieldError {
  /** Dotted path of the offending field in the request, e.g. `events.3.agent_id`. */
  path: string;
  message: string;
}

/** The one error type services throw. Its message is shown to the client as-is. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly errors?: FieldError[];
  /** Seconds, for RATE_LIMITED and UNAVAILABLE. */
  readonly retryAfter?: number;
  /** For PERIOD_CLOSED: the closed month, its invoice and the earliest time a change may take effect. */
  readonly period?: PeriodClosed;

  constructor(code: ErrorCode, message: string, options: { errors?: FieldError[]; retryAfter?: number; period?: PeriodClosed } = {}) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.errors = options.errors;
    this.retryAfter = options.retryAfter;
    this.period = options.period;
  }
}

export const notFound = (what: string) => new AppError("NOT_FOUND", `${what} not found`);

/** One field error, as a VALIDATION AppError. */
export const invalidField = (path: string, message: string) =>
  new AppError("VALIDATION", `${path}: ${message}`, { errors: [{ path, message }] });

export function fieldErrorsFromZod(error: ZodError, prefix: (string | number)[] = []): FieldError[] {
  const join = (path: PropertyKey[]) => [...prefix, ...path].map(String).join(".") || "(body)";
  return error.issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: join([...issue.path, key]), message: "is not a known field" }))
      : [{ path: join(issue.path), message: issue.message }],
  );
}

export function validationError(errors: FieldError[]): AppError {
  const first = errors[0];
  const detail =
    errors.length === 1 && first
      ? `${first.path}: ${first.message}`
      : `${errors.length} fields are invalid: ${errors.map((e) => e.path).join(", ")}`;
  return new AppError("VALIDATION", detail, { errors });
}

/**
 * An error and the errors it was caused by, outermost first, each once (Drizzle wraps the driver's
 * error in `cause`, and a driver error may wrap a socket error). Objects only.
 */
export function* causes(err: unknown): Generator<Record<string, unknown>> {
  const seen = new Set<unknown>();
  for (let e = err; e !== null && typeof e === "object" && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    yield e as Record<string, unknown>;
  }
}

const UNREACHABLE = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "CONNECTION_CLOSED", "CONNECTION_ENDED", "CONNECTION_DESTROYED", "CONNECT_TIMEOUT", "EPIPE"]);

/** PostgreSQL SQLSTATEs meaning the database is unreachable or going away (class 08, 57P0x, 53300), or a dead socket. */
export function isUnavailable(err: unknown): boolean {
  for (const e of causes(err)) {
    const code = e.code;
    if (typeof code !== "string") continue;
    if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03" || code === "53300" || UNREACHABLE.has(code)) return true;
  }
  return false;
}

/** SQLSTATE of a database error, wherever the driver put it (Drizzle wraps it in `cause`). */
export function pgCode(err: unknown): string | undefined {
  for (const e of causes(err)) if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  return undefined;
}

/** The detail of a request value that only the database refused (see `toAppError`). */
export const DATA_EXCEPTION_MESSAGE = "A value in the request is out of range or malformed";

/** Turns anything thrown into an AppError without leaking internals (stack, SQL, constraint names). */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ZodError) return validationError(fieldErrorsFromZod(err));
  if (isUnavailable(err)) return new AppError("UNAVAILABLE", "The database is unavailable; retry shortly", { retryAfter: 2 });
  const code = pgCode(err);
  if (code === "57014") return new AppError("UNAVAILABLE", "The request took too long and was cancelled; retry shortly", { retryAfter: 2 });
  if (code === "40001" || code === "40P01") return new AppError("CONFLICT", "A concurrent change conflicted with this one; retry");
  // Class 22 (data exception: invalid text, bytes, numbers or times out of range) can only come
  // from a request value that validation let through. Still the client's input, so a 400 rather
  // than a 500; but it is logged, and the fuzzer fails on this message, so the gap gets closed
  // where the value enters.
  if (code?.startsWith("22")) return new AppError("BAD_REQUEST", DATA_EXCEPTION_MESSAGE);
  return new AppError("INTERNAL", "An unexpected error occurred");
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  error: string;
  errors?: FieldError[];
  period?: PeriodClosed;
  request_id: string;
}

/** RFC 9457 problem document for an AppError (docs/api.md). */
export function toProblem(err: AppError, requestId: string): Problem {
  const entry = ERRORS[err.code];
  return {
    type: `/api/docs#error-${err.code.toLowerCase().replaceAll("_", "-")}`,
    title: entry.title,
    status: entry.status,
    detail: err.message,
    code: err.code.toLowerCase(),
    error: err.message,
    ...(err.errors ? { errors: err.errors } : {}),
    ...(err.period ? { period: err.period } : {}),
    request_id: requestId,
  };
}

/** Name of the constraint a database error violated (for mapping to a field), never shown to clients. */
export function pgConstraint(err: unknown): string | undefined {
  for (const e of causes(err)) {
    const name = e.constraint_name ?? e.constraint;
    if (typeof name === "string") return name;
  }
  return undefined;
}

/**
 * An error's message and its causes' (the driver's error is the cause of Drizzle's), without the
 * SQL and bound parameters Drizzle puts in its own message (parameters can hold personal data).
 */
export function errorText(err: unknown): string {
  if (err === null || typeof err !== "object") return String(err).slice(0, 2000);
  const parts: string[] = [];
  for (const e of causes(err)) {
    if (parts.length === 4) break;
    const message = String(e.message ?? e);
    parts.push(message.startsWith("Failed query:") ? "query failed" : message.split(/\nparams:/)[0]!);
  }
  return parts.join(": ").slice(0, 2000);
}

import type { Context } from "hono";
import { z, type ZodType } from "zod";
import type { Ctx } from "../context";
import { AppError, fieldErrorsFromZod, validationError } from "../errors";

export type AppEnv = { Variables: { requestId: string; ctx: Ctx } };
export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

/**
 * One documented REST operation: the same zod schemas validate the request and produce the
 * OpenAPI document, and the handler only calls a service.
 */
export interface RestRoute {
  method: HttpMethod;
  /** Hono path, e.g. `/api/organizations/:id`. */
  path: string;
  summary: string;
  tag: string;
  /** Public routes need no credentials (health, docs). */
  public?: boolean;
  query?: ZodType;
  body?: ZodType;
  /** The body may be absent altogether (e.g. toggle without `is_active`). */
  bodyOptional?: boolean;
  response?: ZodType;
  /** Success status (default 200). */
  status?: number;
  /** Extra documented responses besides the problem ones, e.g. a CSV download. */
  produces?: string[];
  handler: (args: { ctx: Ctx; params: Record<string, string>; query: any; body: any; c: Context<AppEnv> }) => Promise<unknown>;
}

export const defineRoutes = (routes: RestRoute[]) => routes;

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * Reads a request body as UTF-8 text within `maxBytes`, whether or not it declares its length:
 * 413 as soon as it grows past the limit (a chunked body is cut off there, never buffered whole),
 * 400 when it is not valid UTF-8 (never silently replaced by U+FFFD).
 */
export async function readBodyText(c: Context<AppEnv>, maxBytes: number): Promise<string> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxBytes} bytes`);
  }
  const raw = c.req.raw.body;
  if (!raw) return "";
  const reader = raw.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  try {
    return UTF8.decode(Buffer.concat(chunks));
  } catch {
    throw new AppError("BAD_REQUEST", "The body is not valid UTF-8");
  }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** How deep a JSON body may nest; our bodies need 4 levels, so this is generous. */
export const MAX_JSON_DEPTH = 32;

/**
 * Why a JSON text is ambiguous or hostile though it may parse: a key repeated in one object
 * (parsers disagree on which value wins, so it is refused rather than guessed) or nesting deeper
 * than `maxDepth`. One iterative pass, no recursion; malformed text is left to JSON.parse.
 */
export function jsonStructureProblem(text: string, maxDepth = MAX_JSON_DEPTH): string | null {
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22) {
      let j = i + 1;
      while (j < text.length) {
        const c = text.charCodeAt(j);
        if (c === 0x5c) j += 2;
        else if (c === 0x22) break;
        else j++;
      }
      const top = stack[stack.length - 1];
      if (top && expectKey) {
        let key: string;
        try {
          key = JSON.parse(text.slice(i, j + 1));
        } catch {
          return null;
        }
        if (top.has(key)) return `The body repeats the key "${key.slice(0, 64)}" in one object`;
        top.add(key);
        expectKey = false;
      }
      i = j;
    } else if (ch === 0x7b || ch === 0x5b) {
      stack.push(ch === 0x7b ? new Set() : null);
      if (stack.length > maxDepth) return `The body is nested deeper than ${maxDepth} levels`;
      expectKey = ch === 0x7b;
    } else if (ch === 0x7d || ch === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (ch === 0x2c) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
  }
  return null;
}

/**
 * Reads a JSON body within the size limit: 413 over it, 415 when not JSON, 400 when malformed,
 * not UTF-8, nested too deep or repeating a key.
 */
export async function readJsonBody(c: Context<AppEnv>, maxBytes: number, optional: boolean): Promise<unknown> {
  const text = await readBodyText(c, maxBytes);
  if (text.trim() === "") {
    if (optional) return undefined;
    const type = c.req.header("content-type");
    if (type && !JSON_TYPE.test(type)) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The body must be application/json");
    throw new AppError("BAD_REQUEST", "A JSON body is required");
  }
  const type = c.req.header("content-type") ?? "";
  if (!JSON_TYPE.test(type)) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The body must be application/json");
  const problem = jsonStructureProblem(text);
  if (problem) throw new AppError("BAD_REQUEST", problem);
  try {
    return JSON.parse(text);
  } catch {
    throw new AppError("BAD_REQUEST", "The body is not valid JSON");
  }
}

/** Validates with a zod schema, turning every issue into a field error. */
export function parseWith<T>(schema: ZodType<T>, value: unknown, where: "body" | "query"): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = fieldErrorsFromZod(result.error);
  if (where === "query") for (const e of errors) if (e.path === "(body)") e.path = "(query)";
  throw validationError(errors);
}

/** Query strings arrive as strings: a schema for an optional positive integer within bounds. */
export const queryInt = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, "must be a whole number")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

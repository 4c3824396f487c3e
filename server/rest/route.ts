import type { Context } from "hono";
import type { z, ZodObject, ZodType } from "zod";
import type { Ctx } from "../context";
import { AppError } from "../errors";

export type AppEnv = { Variables: { requestId: string; ctx: Ctx } };
export type HttpMethod = "get" | "post" | "put" | "patch" | "delete";

/** Problem statuses a route states itself; the generic ones (400, 401, 403, 413, 415, 429, 500, 503) follow from its shape. */
export type DomainStatus = 404 | 409;

type Parsed<S> = S extends ZodType ? z.output<S> : undefined;

/** What a handler receives: the caller's context and its request, parsed by the route's own schemas. */
export interface HandlerArgs<P, Q, B> {
  ctx: Ctx;
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  c: Context<AppEnv>;
}

/**
 * One documented REST operation. The same zod schemas validate the request, type the handler's
 * arguments and its result, and produce the OpenAPI document (docs/api.md, docs/architecture.md).
 */
export interface RestRoute<P extends ZodObject | undefined = ZodObject | undefined, Q extends ZodType | undefined = ZodType | undefined, B extends ZodType | undefined = ZodType | undefined, R extends ZodType | undefined = ZodType | undefined> {
  method: HttpMethod;
  /** Hono path, e.g. `/api/organizations/:id`; the document writes it `/api/organizations/{id}`. */
  path: string;
  summary: string;
  tag: string;
  /** Public routes need no credentials and are not rate limited (health); a public path has no parameters. */
  public?: boolean;
  /** Path parameters, from `rest/params.ts`: a malformed id is a 404, like an unknown one. Required when the path has any. */
  params?: P;
  query?: Q;
  /** A JSON body, validated after the size, media type and structure checks. */
  body?: B;
  /**
   * A body the handler reads itself (through `c`), in one of these media types, described in the
   * document by its text: OTLP protobuf, newline-delimited JSON. Its size limit, encoding and
   * format are the handler's to check (413, 415, 400), with the same problems as a JSON body.
   */
  rawBody?: { types: string[]; description: string };
  /** The body may be absent altogether (it then reads as `{}`), e.g. toggle without `is_active`. */
  bodyOptional?: boolean;
  /** The success body (JSON); the handler's result must fit it. */
  response?: R;
  /** Success status (default 200). */
  status?: 200 | 201 | 202;
  /** Other media types of the success response, e.g. a CSV download: the handler returns a Response. */
  produces?: string[];
  /**
   * 404 when the route resolves references beyond its path (an `org_id` in the body, `org` in the
   * query); 409 when the service can refuse a conflict. Path ids already imply 404.
   */
  errors?: DomainStatus[];
  /** What else answers 413 besides the body's size, e.g. a batch over its item limit. */
  tooLarge?: string;
  /** Schemas the route's documentation refers to by name (`#/components/schemas/<name>`). */
  components?: Record<string, ZodType>;
  /** Answers other than the success and the problems, e.g. health's 503 with its own body. */
  responses?: Record<number, { description: string; schema: ZodType }>;
  handler: (args: HandlerArgs<P, Q, B>) => Promise<(R extends ZodType ? z.output<R> : never) | Response>;
}

/** What the mounting code sees of any route: its schemas, and a handler taking parsed input. */
export type AnyRestRoute = Omit<RestRoute, "handler"> & { handler: (args: HandlerArgs<any, any, any>) => Promise<unknown> };

/**
 * Declares a route; its handler's `params`, `query`, `body` and result are typed from its schemas.
 * One call per route, so that each is inferred on its own.
 */
export function defineRoute<P extends ZodObject | undefined = undefined, Q extends ZodType | undefined = undefined, B extends ZodType | undefined = undefined, R extends ZodType | undefined = undefined>(
  route: RestRoute<P, Q, B, R>,
): AnyRestRoute {
  if (/:\w/.test(route.path) && !route.params) throw new Error(`${route.method.toUpperCase()} ${route.path} must declare its path parameters`);
  if (route.public && route.params) throw new Error(`${route.method.toUpperCase()} ${route.path}: a public path has no parameters (the rate limiter exempts it by its path)`);
  return route as unknown as AnyRestRoute;
}

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

/**
 * Reads a request body as bytes within `maxBytes`, inflating `Content-Encoding: gzip` as it streams:
 * both what arrives and what it inflates to are counted chunk by chunk, so a body (or a
 * decompression bomb) past the limit is a 413 as soon as it crosses it and is never held whole.
 * A corrupt gzip stream is a 400; another encoding a 415.
 */
export async function readBodyBytes(c: Context<AppEnv>, maxBytes: number): Promise<Uint8Array> {
  const encoding = (c.req.header("content-encoding") ?? "identity").trim().toLowerCase();
  if (encoding !== "identity" && encoding !== "gzip") throw new AppError("UNSUPPORTED_MEDIA_TYPE", `Content-Encoding ${encoding.slice(0, 32)} is not supported (gzip or none)`);
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxBytes} bytes`);
  const raw = c.req.raw.body;
  if (!raw) return new Uint8Array();
  let received = 0;
  let tooLarge = false;
  const counted = raw.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > maxBytes) {
          tooLarge = true;
          controller.error(new Error("body too large"));
        } else controller.enqueue(chunk);
      },
    }),
  );
  const stream = encoding === "gzip" ? counted.pipeThrough(new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>) : counted;
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new AppError("PAYLOAD_TOO_LARGE", `The body inflates to more than ${maxBytes} bytes`);
      }
      chunks.push(value);
    }
  } catch (err) {
    if (err instanceof AppError) throw err;
    if (tooLarge) throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxBytes} bytes`);
    throw new AppError("BAD_REQUEST", "The body is not valid gzip");
  }
  return Buffer.concat(chunks);
}

/** How deep a JSON body may nest; our bodies need 4 levels, so this is generous. */
export const MAX_JSON_DEPTH = 32;

/** The UTF-16 code unit a `\uXXXX` escape at `at` (its backslash) names, or -1 when there is none. */
function escapedUnit(text: string, at: number): number {
  if (text.charCodeAt(at) !== 0x5c || text.charCodeAt(at + 1) !== 0x75) return -1;
  const hex = text.slice(at + 2, at + 6);
  return /^[0-9a-fA-F]{4}$/.test(hex) ? Number.parseInt(hex, 16) : -1;
}

/**
 * Why a JSON text is ambiguous or hostile though it may parse: a key repeated in one object
 * (parsers disagree on which value wins, so it is refused rather than guessed), nesting deeper
 * than `maxDepth`, or a `\u` escape of half a surrogate pair — not a character, as bytes that are
 * not UTF-8 are not (a body of those is refused too), and text PostgreSQL's JSON refuses.
 * One iterative pass, no recursion; malformed text is left to JSON.parse.
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
        if (c === 0x5c) {
          const unit = escapedUnit(text, j);
          if (unit >= 0xd800 && unit <= 0xdbff) {
            const low = escapedUnit(text, j + 6);
            if (low < 0xdc00 || low > 0xdfff) return `The body holds half a surrogate pair (\\u${text.slice(j + 2, j + 6)} without its low half): not a Unicode character`;
            j += 12;
          } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            return `The body holds half a surrogate pair (\\u${text.slice(j + 2, j + 6)} without its high half): not a Unicode character`;
          } else j += 2;
        } else if (c === 0x22) break;
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
 * not UTF-8, nested too deep or repeating a key. Undefined when an optional body is absent.
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

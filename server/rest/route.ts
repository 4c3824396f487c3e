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

/** Reads a JSON body within the size limit: 413 over it, 415 when not JSON, 400 when malformed. */
export async function readJsonBody(c: Context<AppEnv>, maxBytes: number, optional: boolean): Promise<unknown> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new AppError("PAYLOAD_TOO_LARGE", `The body is larger than ${maxBytes} bytes`);
  }
  const raw = c.req.raw.body;
  let text = "";
  if (raw) {
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
    text = Buffer.concat(chunks).toString("utf8");
  }
  if (text.trim() === "") {
    if (optional) return undefined;
    const type = c.req.header("content-type");
    if (type && !JSON_TYPE.test(type)) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The body must be application/json");
    throw new AppError("BAD_REQUEST", "A JSON body is required");
  }
  const type = c.req.header("content-type") ?? "";
  if (!JSON_TYPE.test(type)) throw new AppError("UNSUPPORTED_MEDIA_TYPE", "The body must be application/json");
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

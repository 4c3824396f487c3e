import { AppError } from "../errors";
import { isUuid } from "./uuid";

/** Opaque keyset cursors: base64url JSON of the last row's sort key. */
export function encodeCursor(key: unknown[]): string {
  return Buffer.from(JSON.stringify(key)).toString("base64url");
}

/** What each element of a cursor must be: a text (no NUL), a UUID, a finite number, or any of these. */
export type CursorPart = "text" | "uuid" | "number";

const fits = (k: unknown, part: CursorPart | undefined) =>
  part === "uuid"
    ? typeof k === "string" && isUuid(k)
    : part === "number"
      ? typeof k === "number" && Number.isFinite(k)
      : part === "text"
        ? typeof k === "string" && !k.includes("\u0000")
        : (typeof k === "string" && !k.includes("\u0000")) || (typeof k === "number" && Number.isFinite(k));

/**
 * Decodes a cursor made by `encodeCursor`. A cursor is client input: anything that is not exactly
 * the expected shape (`arity` elements, or one element per `parts` entry) is a 400, never a value
 * that reaches SQL and fails there.
 */
export function decodeCursor(cursor: string, shape: number | CursorPart[]): (string | number)[] {
  const parts = typeof shape === "number" ? undefined : shape;
  const arity = typeof shape === "number" ? shape : shape.length;
  try {
    const key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(key) && key.length === arity && key.every((k, i) => fits(k, parts?.[i]))) return key;
  } catch {
    // fall through
  }
  throw new AppError("VALIDATION", "cursor: is not a valid cursor", { errors: [{ path: "cursor", message: "is not a valid cursor" }] });
}

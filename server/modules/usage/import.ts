import { AppError } from "../../errors";
import { jsonStructureProblem } from "../../rest/route";

/**
 * The bulk import's file formats (docs/integrations.md, "Bulk import"): pure mappers from the bytes
 * of an uploaded file to usage events, line by line, that end in the same ingestion as every source.
 */

export type ImportFormat = "csv" | "ndjson";

/** The Event fields a CSV header may name (those of `POST /api/usage`). */
export const IMPORT_COLUMNS = [
  "id",
  "agent_id",
  "agent_external_id",
  "model",
  "provider",
  "input_tokens",
  "output_tokens",
  "cache_read_tokens",
  "cache_write_tokens",
  "cost_usd",
  "occurred_at",
] as const;
const TOKEN_COLUMNS = new Set<string>(["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"]);

/** Longest line accepted, in characters (an event line is a few hundred); a longer one is rejected on its own. */
export const MAX_IMPORT_LINE_CHARS = 16_384;

/** A line that could not be read as text: its reason. */
export interface BadLine {
  error: string;
}
/** Consecutive lines of the file, the first numbered `first` (1-based). */
export interface LineBlock {
  first: number;
  lines: (string | BadLine)[];
}

const FATAL = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const tooLong: BadLine = { error: `the line is longer than ${MAX_IMPORT_LINE_CHARS} characters` };

function decodeLine(bytes: Uint8Array): string | BadLine {
  try {
    const text = FATAL.decode(bytes);
    return text.length > MAX_IMPORT_LINE_CHARS ? tooLong : text;
  } catch {
    return { error: "the line is not valid UTF-8" };
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Splits a byte stream into lines (LF, a trailing CR dropped), one block per chunk received, holding
 * at most one unfinished line between chunks: memory stays bounded by the chunk and the line limit
 * whatever the file's size. A line that is too long or not UTF-8 becomes a `BadLine`; the next line
 * is read normally.
 */
export async function* readLines(body: ReadableStream<Uint8Array>): AsyncGenerator<LineBlock> {
  let line = 1;
  let carry: Uint8Array[] = [];
  let carried = 0;
  let overlong = false;
  const keep = (bytes: Uint8Array) => {
    if (overlong || bytes.byteLength === 0) return;
    // Copied: the stream may reuse the chunk's memory.
    carry.push(bytes.slice());
    carried += bytes.byteLength;
    // A character takes at most 4 bytes: beyond that the line is too long whatever it holds.
    if (carried > MAX_IMPORT_LINE_CHARS * 4) {
      overlong = true;
      carry = [];
      carried = 0;
    }
  };
  const reader = body.getReader();
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    const first = chunk.indexOf(10);
    if (first < 0) {
      keep(chunk);
      continue;
    }
    const block: LineBlock = { first: line, lines: [] };
    block.lines.push(overlong ? tooLong : decodeLine(carry.length === 0 ? chunk.subarray(0, first) : concat([...carry, chunk.subarray(0, first)])));
    carry = [];
    carried = 0;
    overlong = false;
    const last = chunk.lastIndexOf(10);
    if (last > first) {
      const region = chunk.subarray(first + 1, last);
      let texts: (string | BadLine)[];
      try {
        texts = FATAL.decode(region).split("\n");
        for (let k = 0; k < texts.length; k++) if ((texts[k] as string).length > MAX_IMPORT_LINE_CHARS) texts[k] = tooLong;
      } catch {
        // Some line of the region is not UTF-8: decode them one by one to find which.
        texts = [];
        let start = 0;
        for (;;) {
          const nl = region.indexOf(10, start);
          texts.push(decodeLine(region.subarray(start, nl < 0 ? region.byteLength : nl)));
          if (nl < 0) break;
          start = nl + 1;
        }
      }
      for (const t of texts) block.lines.push(t);
    }
    line += block.lines.length;
    keep(chunk.subarray(last + 1));
    yield block;
  }
  if (carried > 0 || overlong) yield { first: line, lines: [overlong ? tooLong : decodeLine(concat(carry))] };
}

/** A line turned into the event it describes (as `POST /api/usage` would receive it), or why it could not be. */
export type LineEvent = { event: Record<string, unknown> } | { error: string; id: string | null };

/** One NDJSON line: a JSON object without repeated keys or deep nesting, like every JSON body. */
export function ndjsonEvent(text: string): LineEvent {
  const problem = jsonStructureProblem(text);
  if (problem) return { error: problem, id: null };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: "the line is not valid JSON", id: null };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return { error: "the line must be one JSON object (an Event)", id: null };
  return { event: value as Record<string, unknown> };
}

/**
 * Splits one CSV record (RFC 4180: fields separated by commas, optionally in double quotes with
 * `""` for a quote). Records are single lines: no Event field may contain a line break. Null when
 * the quoting is broken.
 */
export function csvFields(text: string): string[] | null {
  if (!text.includes('"')) return text.split(",");
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = "";
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) return null;
        value += text.slice(j, q);
        if (text[q + 1] === '"') {
          value += '"';
          j = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      fields.push(value);
      if (i === text.length) return fields;
      if (text[i] !== ",") return null;
      i++;
    } else {
      const comma = text.indexOf(",", i);
      const value = text.slice(i, comma < 0 ? text.length : comma);
      if (value.includes('"')) return null;
      fields.push(value);
      if (comma < 0) return fields;
      i = comma + 1;
    }
  }
}

/**
 * Reads a CSV header: every column must be an Event field, once; `id`, `model`, `input_tokens`,
 * `output_tokens` and one of `agent_id` / `agent_external_id` must be there. Else a 400 naming the
 * columns, before anything is stored. Returns the mapper from a record to its event.
 */
export function csvHeader(text: string): (text: string) => LineEvent {
  const columns = csvFields(text.replace(/^\uFEFF/, ""))?.map((c) => c.trim());
  if (!columns) throw new AppError("BAD_REQUEST", "The first line must be the CSV header naming the Event fields; its quoting is broken", { errors: [{ path: "line 1", message: "broken quoting" }] });
  const errors: { path: string; message: string }[] = [];
  const known = new Set<string>(IMPORT_COLUMNS);
  const seen = new Set<string>();
  for (const c of columns) {
    if (!known.has(c)) errors.push({ path: `header.${c.slice(0, 64)}`, message: `is not an Event field (${IMPORT_COLUMNS.join(", ")})` });
    else if (seen.has(c)) errors.push({ path: `header.${c}`, message: "appears twice" });
    seen.add(c);
  }
  for (const required of ["id", "model", "input_tokens", "output_tokens"]) if (!seen.has(required)) errors.push({ path: `header.${required}`, message: "is a required column" });
  if (!seen.has("agent_id") && !seen.has("agent_external_id")) errors.push({ path: "header.agent_id", message: "is a required column (or agent_external_id)" });
  if (errors.length > 0) throw new AppError("BAD_REQUEST", "The first line must be the CSV header naming the Event fields", { errors });
  const idColumn = columns.indexOf("id");
  return (line) => {
    const fields = csvFields(line);
    if (!fields) return { error: "the line's CSV quoting is broken", id: null };
    const id = fields[idColumn] || null;
    if (fields.length !== columns.length) return { error: `the line has ${fields.length} fields; the header names ${columns.length}`, id };
    const event: Record<string, unknown> = {};
    for (let k = 0; k < columns.length; k++) {
      const value = fields[k]!;
      // An empty cell is an omitted field, as in JSON.
      if (value === "") continue;
      const column = columns[k]!;
      // Token counts are numbers in JSON; a cell that is not one stays text for the validation to word.
      event[column] = TOKEN_COLUMNS.has(column) && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
    }
    return { event };
  };
}

/** The mapper of each line of a file in `format` after its first, reading the header of a CSV from `first`. */
export function lineReader(format: ImportFormat, first: string): { header: boolean; read: (text: string) => LineEvent } {
  return format === "csv" ? { header: true, read: csvHeader(first) } : { header: false, read: ndjsonEvent };
}

/** A value in PostgreSQL's COPY text format: `\N` for null, backslash and control characters escaped. */
export function copyValue(value: unknown): string {
  if (value === null || value === undefined) return "\\N";
  const text = String(value);
  // eslint-disable-next-line no-control-regex
  return /[\\\u0000-\u001f]/.test(text) ? text.replace(/[\\\u0000-\u001f]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : c === "\r" ? "\\r" : " ")) : text;
}

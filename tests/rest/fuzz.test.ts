import { describe, expect, test } from "bun:test";
import { prng } from "../../server/shared/random";
import fc from "fast-check";
import { DATA_EXCEPTION_MESSAGE } from "../../server/errors";
import { databaseChecksum } from "../support/checksum";
import { testDatabase } from "../support/db";
import { ADMIN_KEY, startTestServer } from "../support/http";

/**
 * Fuzzes every operation of /api/openapi.json with invalid and hostile requests: missing and extra
 * fields, wrong types, huge strings and numbers, negative and over-precise money, bad dates,
 * unicode and control characters, injection strings, deep JSON, duplicate keys, wrong content
 * types, oversized bodies, hostile path and query parameters, bad credentials.
 *
 * For every response: never a 5xx; every 4xx is a complete problem+json without internals; a
 * request the fuzzer built to be invalid is a 4xx; and the database checksum is unchanged by every
 * rejected request and by every read. Deterministic: a fixed seed, a fixed count per operation.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20260301);
const CASES_PER_OPERATION = Number(process.env.FUZZ_CASES ?? 300);
const MAX_BODY = 256 * 1024;

const database = await testDatabase();
const { base, api } = startTestServer(database, { maxBodyBytes: MAX_BODY });

// A little data so that valid ids exist and bodies reach their services.
const orgA = (await api.post("/api/organizations", { name: "Fuzz Target", billing_rate_per_agent: "10.00" })).body;
const orgB = (await api.post("/api/organizations", { name: "Fuzz Other", currency: "EUR" })).body;
const agentA = (await api.post("/api/agents", { name: "Fuzz Agent", org_id: orgA.id, created_at: "2024-01-01T00:00:00Z" })).body;
const agentB = (await api.post("/api/agents", { name: "Fuzz Agent Two", created_at: "2024-01-01T00:00:00Z" })).body;
const doc = (await api.get("/api/openapi.json")).body as { paths: Record<string, Record<string, any>> };

// ---------------------------------------------------------------------------------------------
// Deterministic randomness: one PRNG for choices, fast-check samples for value pools.

const rand = prng(SEED);
const int = (n: number) => Math.floor(rand() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const chance = (p: number) => rand() < p;

const sampledStrings = fc.sample(fc.string({ unit: "binary", maxLength: 40 }), { seed: SEED, numRuns: 300 });
const sampledGraphemes = fc.sample(fc.string({ unit: "grapheme", minLength: 1, maxLength: 30 }), { seed: SEED + 1, numRuns: 200 });
const sampledJson = fc.sample(fc.jsonValue({ maxDepth: 4 }), { seed: SEED + 2, numRuns: 300 });

const INJECTIONS = [
  "' OR '1'='1",
  "'; drop table organizations; --",
  "\"); select pg_sleep(30); --",
  "1; update organizations set billing_rate_per_agent = 0",
  "$$ select 1 $$",
  "E'\\x00'",
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(1)>",
  "{{7*7}}",
  "${7*7}",
  "%s%s%s%s%n",
  "../../../../etc/passwd",
  "..\\..\\windows\\win.ini",
  "\r\nSet-Cookie: pwned=1",
  "__proto__",
  "constructor",
  "null",
  "undefined",
  "NaN",
  "Infinity",
];
const UNICODE = [
  "",
  " ",
  "\u0000",
  "a\u0000b",
  "\u0007\u0008\u001b[31m",
  "\u202eevil\u202c",
  "\ufeffbom",
  "\ud800",
  "\udfff\ud800",
  "Z̵̢̛̭̗a̴̛͉l̸̨̛g̵o̴",
  "𝕳𝖊𝖑𝖑𝖔",
  "日本語の組織",
  "مؤسسة",
  "👩‍👩‍👧‍👦".repeat(40),
  "ﷺ".repeat(200),
  "\u2028\u2029",
  "\t\n\r",
  "x".repeat(129),
  "x".repeat(513),
  "y".repeat(70_000),
];
const HUGE_NUMBERS = [1e308, -1e308, 5e-324, 2 ** 53 + 1, -(2 ** 63), 1e21, 123456789012345, 1e13, 0.1 + 0.2, -0];
const BAD_MONEY = [
  -1,
  -0.01,
  "-0.01",
  "-0",
  1.005,
  99.999,
  "1.001",
  "0.001",
  "1e3",
  "1E2",
  "NaN",
  "Infinity",
  "1,00",
  "1 000",
  "0x10",
  "1_000",
  "+5",
  ".5",
  "5.",
  "٥",
  "",
  " ",
  "9999999999999",
  "1234567890123.45",
  "999999999999999.99",
  1e13,
  1e15,
  1e300,
  12345678901234567890,
  true,
  [],
  {},
  { amount: "1.00" },
];
const BAD_DATES = [
  "",
  "yesterday",
  "2026-13-01T00:00:00Z",
  "2026-02-30T00:00:00Z",
  "2026-01-01",
  "2026-01-01T00:00:00",
  "2026-01-01 00:00:00",
  "2026-01-01T25:00:00Z",
  "2026-01-01T00:00:00+25:00",
  "1999-12-31T23:59:59Z",
  "0000-01-01T00:00:00Z",
  "1970-01-01T00:00:00Z",
  "9999-12-31T23:59:59Z",
  "2999-01-01T00:00:00Z",
  "+275760-09-13T00:00:00Z",
  "2026-01-01T00:00:00Z".repeat(4),
  "2026-W01",
  "1700000000",
  1700000000,
  1700000000000,
  -1,
  null,
  true,
  {},
  [],
];
const TEXT_POOL = [...INJECTIONS, ...UNICODE, ...sampledStrings, ...sampledGraphemes];
const ANY_POOL: unknown[] = [...TEXT_POOL, ...HUGE_NUMBERS, ...sampledJson, null, true, false, [], {}, [null], { $gt: "" }, { "": "" }];

// ---------------------------------------------------------------------------------------------
// Schema helpers over the OpenAPI (JSON Schema 2020-12) documents.

type JsonType = "null" | "boolean" | "number" | "string" | "array" | "object";
const ALL_TYPES: JsonType[] = ["null", "boolean", "number", "string", "array", "object"];

/** The JSON types a schema accepts, or null when it does not say (an unconstrained `{}`). */
function typesOf(schema: any): Set<JsonType> | null {
  if (!schema || typeof schema !== "object") return null;
  if (schema.anyOf || schema.oneOf) {
    const out = new Set<JsonType>();
    for (const s of schema.anyOf ?? schema.oneOf) {
      const t = typesOf(s);
      if (!t) return null;
      t.forEach((x) => out.add(x));
    }
    return out;
  }
  if (schema.const !== undefined) return new Set([jsonType(schema.const)]);
  if (schema.enum) return new Set(schema.enum.map(jsonType));
  if (!schema.type) return null;
  const list = (Array.isArray(schema.type) ? schema.type : [schema.type]) as string[];
  return new Set(list.map((t) => (t === "integer" ? "number" : t)) as JsonType[]);
}

function jsonType(v: unknown): JsonType {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v as JsonType;
}

function valueOfType(type: JsonType): unknown {
  switch (type) {
    case "null":
      return null;
    case "boolean":
      return chance(0.5);
    case "number":
      return pick([0, 1, -1, 3.5, ...HUGE_NUMBERS]);
    case "string":
      return pick(TEXT_POOL);
    case "array":
      return pick([[], [1, 2], ["a"], [{}], [[[]]]]);
    case "object":
      return pick([{}, { a: 1 }, { $ne: null }, { nested: { deeper: [] } }]);
  }
}

const isMoney = (s: any) => typeof s?.description === "string" && /decimal amount/i.test(s.description);
const moneyIn = (s: any) => isMoney(s) || (s?.anyOf ?? []).some(isMoney);
const isInstant = (name: string) => /_at$/.test(name);

/** A valid value for a property, by schema and name, pointing at the seeded rows. */
function validValue(name: string, schema: any): unknown {
  if (schema?.enum) return schema.enum[0];
  if (moneyIn(schema)) return "12.50";
  if (isInstant(name)) return "2025-06-01T00:00:00Z";
  if (/^(from|to|month|effective_from)$/.test(name) && typeof schema?.pattern === "string") {
    return new RegExp(schema.pattern).test("2025-06-01") ? "2025-06-01" : "2025-06";
  }
  if (/email/.test(name)) return `fuzz-${int(1e9)}@example.test`;
  if (/^(org_id|orgId|org)$/.test(name)) return orgB.slug;
  if (/^agent_id$/.test(name)) return agentA.id;
  const types = typesOf(schema);
  if (!types || types.has("string")) return `Fuzz ${name} ${int(1e9)}`;
  if (types.has("number")) return 1;
  if (types.has("boolean")) return true;
  if (types.has("array")) return [];
  if (types.has("object")) return validObject(schema);
  return null;
}

function validObject(schema: any): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of schema?.required ?? []) out[name] = validValue(name, schema.properties?.[name]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Cases.

interface Case {
  kind: string;
  method: string;
  path: string;
  query?: string;
  headers: Record<string, string>;
  body?: string | Uint8Array | (() => ReadableStream<Uint8Array>);
  /** `reject`: built to be invalid, must be a 4xx. `any`: must only not be a 5xx. */
  expect: "reject" | "any";
  note: string;
}

const HOSTILE_IDS = [
  "..",
  "../..",
  "..%2F..%2Fetc%2Fpasswd",
  "%2e%2e%2f%2e%2e%2f",
  "%00",
  "a%00b",
  "%ff%fe",
  "%E0%A4%A",
  "%",
  "%%",
  "%C0%AF",
  "00000000-0000-0000-0000-000000000000",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
  "00000000-0000-4000-8000-00000000000g",
  "not-a-uuid",
  "-1",
  "0",
  "1e9",
  "null",
  "undefined",
  ":id",
  "{id}",
  "*",
  "%2A",
  "'%20OR%20'1'%3D'1",
  "1%3B%20drop%20table%20agents",
  "x".repeat(2000),
  encodeURIComponent("😀"),
  encodeURIComponent("ａｄｍｉｎ"),
  encodeURIComponent("Café"),
  encodeURIComponent("\u202e"),
  encodeURIComponent(" internal "),
  "INTERNAL",
  "new",
  "api",
];

const BAD_CONTENT_TYPES = [
  "text/plain",
  "text/html",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "application/jsonx",
  "application/javascript",
  "json",
  "*/*",
  "application/octet-stream",
];

const encoder = new TextEncoder();

function withParams(template: string, overrides: Record<string, string> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (overrides[name] !== undefined) return overrides[name]!;
    if (template.startsWith("/api/agents")) return pick([agentA.id, agentB.id]);
    return pick([orgA.id, orgB.slug]);
  });
}

function deep(depth: number, open = "[", close = "]"): string {
  return open.repeat(depth) + close.repeat(depth);
}

function casesFor(path: string, method: string, op: any): Case[] {
  const M = method.toUpperCase();
  const auth: Record<string, string> = op.security?.length === 0 ? {} : { "x-api-key": ADMIN_KEY };
  const json: Record<string, string> = { ...auth, "content-type": "application/json" };
  const bodySchema = op.requestBody?.content?.["application/json"]?.schema;
  const bodyRequired = Boolean(op.requestBody?.required);
  const props: Record<string, any> = bodySchema?.properties ?? {};
  const required: string[] = bodySchema?.required ?? [];
  const queryParams = (op.parameters ?? []).filter((p: any) => p.in === "query");
  const hasPathParams = /\{\w+\}/.test(path);
  const out: Case[] = [];
  const add = (c: Omit<Case, "method" | "headers"> & { headers?: Record<string, string> }) =>
    out.push({ method: M, headers: c.headers ?? json, ...c });

  /** An invalid body: a valid one with at least one change the schema forbids, plus hostile noise. */
  function invalidBody(): { body: unknown; note: string } {
    const body: Record<string, unknown> = validObject(bodySchema);
    const notes: string[] = [];
    const mutations: (() => boolean)[] = [
      () => {
        if (bodySchema?.additionalProperties !== false) return false;
        const key = pick(["surprise", "is_admin", "$where", "constructor", "toString", "NAME", "name ", " ", "😀", "org", "deleted_at", "tenant"]);
        if (key in props) return false;
        body[key] = pick(ANY_POOL);
        notes.push(`extra field ${JSON.stringify(key)}`);
        return true;
      },
      () => {
        const names = Object.keys(props).filter((n) => typesOf(props[n]));
        if (names.length === 0) return false;
        const name = pick(names);
        const allowed = typesOf(props[name])!;
        const wrong = ALL_TYPES.filter((t) => !allowed.has(t));
        if (wrong.length === 0) return false;
        body[name] = valueOfType(pick(wrong));
        notes.push(`wrong type for ${name}`);
        return true;
      },
      () => {
        if (required.length === 0) return false;
        const name = pick(required);
        delete body[name];
        notes.push(`missing ${name}`);
        return true;
      },
      () => {
        const names = Object.keys(props).filter((n) => props[n]?.enum);
        if (names.length === 0) return false;
        const name = pick(names);
        body[name] = pick(["usd", "XXX", "", " USD", "USD\u0000", "archived ", "ACTIVE", "'; --", ...INJECTIONS]);
        notes.push(`not in enum: ${name}`);
        return true;
      },
      () => {
        const names = Object.keys(props).filter((n) => typeof props[n]?.maxLength === "number");
        if (names.length === 0) return false;
        const name = pick(names);
        body[name] = pick(["x", "é", "😀", "'"]).repeat(props[name].maxLength + 1 + int(3) * 1000);
        notes.push(`over maxLength: ${name}`);
        return true;
      },
      () => {
        const names = Object.keys(props).filter((n) => moneyIn(props[n]));
        if (names.length === 0) return false;
        const name = pick(names);
        body[name] = pick(BAD_MONEY);
        notes.push(`bad money ${name}=${JSON.stringify(body[name])}`);
        return true;
      },
      () => {
        const names = Object.keys(props).filter(isInstant);
        if (names.length === 0) return false;
        const name = pick(names);
        body[name] = pick(BAD_DATES);
        notes.push(`bad date ${name}=${JSON.stringify(body[name])}`);
        return true;
      },
    ];
    let applied = 0;
    const want = 1 + int(3);
    for (let tries = 0; applied < want && tries < 40; tries++) {
      const snapshot = JSON.stringify(body);
      const before = notes.length;
      if (!pick(mutations)()) continue;
      // A second mutation of a field already made invalid could make it valid again: undo it.
      const field = notes[before]!.split(/[ =]/).find((w) => w in props || w in body);
      if (applied > 0 && field && notes.slice(0, before).some((n) => n.includes(field))) {
        for (const k of Object.keys(body)) delete body[k];
        Object.assign(body, JSON.parse(snapshot));
        notes.length = before;
        continue;
      }
      applied++;
    }
    if (applied === 0) return { body: pick([[], "body", 42, null, true, [body]]), note: "top-level wrong type" };
    // Noise: hostile values in other fields, valid or not, to exercise validation of each.
    for (let i = int(3); i > 0; i--) {
      const names = Object.keys(props);
      if (names.length === 0) break;
      const name = pick(names);
      if (notes.some((n) => n.includes(name))) continue;
      body[name] = pick(ANY_POOL);
    }
    return { body, note: notes.join("; ") };
  }

  /** A body that may be valid: real fields with hostile but plausible strings. */
  function plausibleBody(): { body: Record<string, unknown>; note: string } {
    const body = validObject(bodySchema);
    const textual = Object.keys(props).filter((n) => {
      const t = typesOf(props[n]);
      return t?.has("string") && !props[n].enum && !moneyIn(props[n]) && !isInstant(n) && !/^(org_id|orgId|agent_id|email)$/.test(n);
    });
    for (let i = 1 + int(2); i > 0 && textual.length > 0; i--) body[pick(textual)] = pick(TEXT_POOL);
    return { body, note: "plausible hostile text" };
  }

  for (let i = 0; i < CASES_PER_OPERATION; i++) {
    const roll = rand();
    if (bodySchema) {
      if (roll < 0.4) {
        const { body, note } = invalidBody();
        add({ kind: "invalid body", path: withParams(path), body: JSON.stringify(body), expect: "reject", note });
      } else if (roll < 0.5) {
        const { body, note } = plausibleBody();
        add({ kind: "plausible body", path: withParams(path), body: JSON.stringify(body), expect: "any", note });
      } else if (roll < 0.75) {
        rawCase();
      } else if (roll < 0.87 && hasPathParams) {
        const id = pick(HOSTILE_IDS);
        add({ kind: "path", path: withParams(path, { id }), body: JSON.stringify(validObject(bodySchema)), expect: "any", note: `id=${id.slice(0, 40)}` });
      } else if (roll < 0.95 && op.security?.length !== 0) {
        authCase(JSON.stringify(validObject(bodySchema)));
      } else {
        const { body, note } = invalidBody();
        add({
          kind: "hostile headers",
          path: withParams(path),
          headers: { ...json, "x-request-id": pick(["x".repeat(300), "a b", "../../", "%F0%9F%98%80", "<script>", "a,b", "1;drop", "", "\\x00"]), "accept-language": "zz" },
          body: JSON.stringify(body),
          expect: "reject",
          note,
        });
      }
    } else {
      if (roll < 0.45 && hasPathParams) {
        const id = pick(HOSTILE_IDS);
        add({ kind: "path", path: withParams(path, { id }), headers: auth, expect: "any", note: `id=${id.slice(0, 40)}` });
      } else if (roll < 0.9 || op.security?.length === 0) {
        add({ kind: "query", path: withParams(path), query: hostileQuery(queryParams), headers: auth, expect: "any", note: "hostile query" });
      } else {
        authCase(undefined);
      }
    }
  }
  return out;

  function hostileQuery(params: any[]): string {
    const q = new URLSearchParams();
    const names: string[] = params.map((p) => p.name);
    for (const name of names) {
      if (!chance(0.6)) continue;
      const value = pick([
        ...TEXT_POOL.filter((s) => s.length < 3000),
        "-1",
        "0",
        "501",
        "1e9",
        "99999999999999999999",
        "1.5",
        "0x10",
        "",
        "active",
        "inactive",
        "archived",
        "suspended",
        Buffer.from(JSON.stringify(["x", "not-a-uuid"])).toString("base64url"),
        Buffer.from(JSON.stringify(["a\u0000", "00000000-0000-4000-8000-000000000001"])).toString("base64url"),
        Buffer.from(JSON.stringify([1, 2, 3])).toString("base64url"),
        Buffer.from(JSON.stringify({ a: 1 })).toString("base64url"),
        Buffer.from("not json").toString("base64url"),
        "!!!!",
        "2026-13",
        "0000-00",
        "2026-01",
        "9999-12",
      ]);
      q.append(name, value);
      if (chance(0.1)) q.append(name, pick(TEXT_POOL.filter((s) => s.length < 100)));
    }
    if (chance(0.3)) q.append(pick(["unknown", "__proto__", "limit[]", "q[$ne]", "status[0]"]), pick(["1", "x", ""]));
    const s = q.toString();
    return chance(0.1) ? s + "&%zz=%" : s;
  }

  function authCase(body: string | undefined) {
    const headers: Record<string, string> = body ? { "content-type": "application/json" } : {};
    const variant = pick(["none", "wrong", "empty bearer", "long", "basic", "both wrong", "case"]);
    if (variant === "wrong") headers["x-api-key"] = pick(["wrong", ADMIN_KEY + "x", ADMIN_KEY.slice(0, -1), "' OR '1'='1"]);
    if (variant === "empty bearer") headers.authorization = "Bearer ";
    if (variant === "long") headers["x-api-key"] = "k".repeat(8000);
    if (variant === "basic") headers.authorization = "Basic " + btoa(`admin:${ADMIN_KEY}`);
    if (variant === "both wrong") Object.assign(headers, { "x-api-key": "nope", authorization: `Bearer ${ADMIN_KEY}` });
    if (variant === "case") headers["x-api-key"] = ADMIN_KEY.toUpperCase();
    add({ kind: "auth", path: withParams(path), headers, body, expect: "reject", note: `credentials: ${variant}` });
  }

  function rawCase() {
    const valid = validObject(bodySchema);
    const validText = JSON.stringify(valid);
    const variant = int(12);
    const p = withParams(path);
    switch (variant) {
      case 0: {
        // Duplicate keys: ambiguous, parsers disagree on which wins.
        const keys = Object.keys(props);
        const key = keys.length ? pick(keys) : "name";
        const first = JSON.stringify(validValue(key, props[key]));
        const text = `{${JSON.stringify(key)}:${first},${validText.slice(1, -1)}${validText.length > 2 ? "," : ""}${JSON.stringify(key)}:${first}}`;
        add({ kind: "duplicate keys", path: p, body: text, expect: "reject", note: `duplicate ${key}` });
        break;
      }
      case 1: {
        const depth = pick([200, 1000, 10_000, 50_000]);
        const where = pick(["top", "field"]);
        const field = Object.keys(props)[0] ?? "x";
        const text = where === "top" ? deep(depth) : `{${JSON.stringify(field)}:${deep(depth, pick(["[", '{"a":'].slice(0, 1)), "]")}}`;
        add({ kind: "deep json", path: p, body: text, expect: "reject", note: `${depth} levels at ${where}` });
        break;
      }
      case 2: {
        const depth = pick([1000, 10_000]);
        const text = '{"a":'.repeat(depth) + "1" + "}".repeat(depth);
        add({ kind: "deep json", path: p, body: text, expect: "reject", note: `${depth} nested objects` });
        break;
      }
      case 3: {
        const text = pick([
          validText.slice(0, Math.max(1, validText.length - 1)),
          validText + "garbage",
          validText + validText,
          validText.replace(/"/g, "'"),
          "{,}",
          '{"a":1,}',
          "{\"a\": NaN}",
          '{"a": Infinity}',
          "{/* comment */}",
          "\ufeff" + validText,
          "[1,2",
          '"\\ud800"',
          '{"a":"\\u00"}',
          "{\"a\":1e999999}",
          "{\"a\":-}",
          "nul",
          "\u0000",
        ]);
        let parses = true;
        try {
          JSON.parse(text);
        } catch {
          parses = false;
        }
        add({ kind: "malformed json", path: p, body: text, expect: parses ? "any" : "reject", note: JSON.stringify(text.slice(0, 40)) });
        break;
      }
      case 4: {
        const type = pick(BAD_CONTENT_TYPES);
        add({ kind: "content type", path: p, headers: { ...auth, "content-type": type }, body: validText, expect: "reject", note: type });
        break;
      }
      case 5: {
        add({ kind: "content type", path: p, headers: auth, body: encoder.encode(validText), expect: "reject", note: "no content type" });
        break;
      }
      case 6: {
        const size = MAX_BODY + 1 + int(3) * 100_000;
        const filler = "x".repeat(size);
        add({ kind: "oversized", path: p, body: JSON.stringify({ ...valid, padding: filler }), expect: "reject", note: `${size} bytes, declared` });
        break;
      }
      case 7: {
        const chunk = encoder.encode(" ".repeat(64 * 1024));
        const chunks = Math.ceil(MAX_BODY / chunk.length) + 2;
        const stream = () =>
          new ReadableStream<Uint8Array>({
            start(controller) {
              controller.enqueue(encoder.encode("{"));
              for (let i = 0; i < chunks; i++) controller.enqueue(chunk);
              controller.enqueue(encoder.encode("}"));
              controller.close();
            },
          });
        add({ kind: "oversized", path: p, body: stream, expect: "reject", note: `${chunks} chunks, no length` });
        break;
      }
      case 8: {
        // Invalid UTF-8 inside a string value.
        const before = encoder.encode(`{${Object.keys(props)[0] ? JSON.stringify(Object.keys(props)[0]) : '"name"'}:"`);
        const bad = pick([new Uint8Array([0xff]), new Uint8Array([0xc0, 0xaf]), new Uint8Array([0xed, 0xa0, 0x80]), new Uint8Array([0xe2, 0x82])]);
        const after = encoder.encode(`"}`);
        const bytes = new Uint8Array([...before, ...bad, ...after]);
        add({ kind: "invalid utf-8", path: p, headers: json, body: bytes, expect: "reject", note: Buffer.from(bad).toString("hex") });
        break;
      }
      case 9: {
        const text = pick(["null", "[]", "[{}]", '"string"', "42", "true", "-0", "1e400"]);
        add({ kind: "top-level type", path: p, body: text, expect: "reject", note: text });
        break;
      }
      case 10: {
        const text = pick(["", " ", "\n\t "]);
        add({ kind: "empty body", path: p, body: text, expect: bodyRequired ? "reject" : "any", note: JSON.stringify(text) });
        break;
      }
      default: {
        // Prototype keys written as JSON text: must be unknown fields, never pollution.
        const key = pick(["__proto__", "constructor", "prototype"]);
        const text = `{${validText.slice(1, -1)}${validText.length > 2 ? "," : ""}"${key}":{"is_admin":true,"billing_rate_per_agent":"0.00"}}`;
        add({ kind: "prototype keys", path: p, body: text, expect: bodySchema?.additionalProperties === false ? "reject" : "any", note: key });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------

const PROBLEM_KEYS = ["type", "title", "status", "detail", "code", "error", "request_id"];
const LEAK = /\bstack\b|at .*\.(ts|js):\d|\bselect\b.*\bfrom\b|\binsert into\b|\bupdate\b.*\bset\b|violates|constraint|_key\b|_check\b|_excl\b|postgres|drizzle|node_modules|SQLSTATE/i;

async function send(c: Case): Promise<{ status: number; headers: Headers; text: string } | { error: string }> {
  const url = `${base}${c.path}${c.query ? `?${c.query}` : ""}`;
  try {
    const body = typeof c.body === "function" ? c.body() : c.body;
    // `duplex` is needed for a streamed request body.
    const init = {
      method: c.method,
      headers: c.headers,
      body: c.method === "GET" || c.method === "DELETE" ? undefined : body,
      signal: AbortSignal.timeout(15_000),
      duplex: typeof c.body === "function" ? "half" : undefined,
    } as RequestInit;
    const res = await fetch(url, init);
    return { status: res.status, headers: res.headers, text: await res.text() };
  } catch (err) {
    return { error: String(err) };
  }
}

const operations = Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));

describe("fuzzing every operation of /api/openapi.json", () => {
  test("the document lists the operations the fuzzer will cover", () => {
    expect(operations.length).toBeGreaterThanOrEqual(12);
  });

  const stats: Record<string, { cases: number; statuses: Record<number, number> }> = {};
  let total = 0;

  test(
    "hostile requests never get a 5xx, rejections are problem+json, and rejected requests change nothing",
    async () => {
      const failures: string[] = [];
      let checksum = await databaseChecksum(database.db);
      for (const { path, method, op } of operations) {
        const key = `${method.toUpperCase()} ${path}`;
        const cases = casesFor(path, method, op);
        stats[key] = { cases: cases.length, statuses: {} };
        for (const c of cases) {
          total++;
          const res = await send(c);
          const label = `${key} [${c.kind}: ${c.note}] ${c.path.slice(0, 80)}${c.query ? "?" + c.query.slice(0, 60) : ""}`;
          if ("error" in res) {
            failures.push(`${label}: no answer (${res.error})`);
            continue;
          }
          stats[key]!.statuses[res.status] = (stats[key]!.statuses[res.status] ?? 0) + 1;
          if (res.status >= 500) failures.push(`${label}: ${res.status} ${res.text.slice(0, 200)}`);
          if (c.expect === "reject" && (res.status < 400 || res.status >= 500)) failures.push(`${label}: accepted with ${res.status} ${res.text.slice(0, 200)}`);
          if (!res.headers.get("x-request-id")?.match(/^[A-Za-z0-9._:-]{1,128}$/)) failures.push(`${label}: bad x-request-id`);
          if (res.headers.get("x-content-type-options") !== "nosniff") failures.push(`${label}: no nosniff`);
          if (res.status >= 400) {
            let problem: any;
            try {
              problem = JSON.parse(res.text);
            } catch {
              failures.push(`${label}: ${res.status} body is not JSON: ${res.text.slice(0, 100)}`);
              continue;
            }
            if (!res.headers.get("content-type")?.startsWith("application/problem+json")) failures.push(`${label}: ${res.status} not problem+json`);
            for (const k of PROBLEM_KEYS) if (!(k in problem)) failures.push(`${label}: problem lacks ${k}`);
            if (problem.status !== res.status) failures.push(`${label}: problem.status ${problem.status} ≠ ${res.status}`);
            if (problem.request_id !== res.headers.get("x-request-id")) failures.push(`${label}: request_id mismatch`);
            if (problem.detail === DATA_EXCEPTION_MESSAGE) failures.push(`${label}: a value reached the database unchecked`);
            if (LEAK.test(problem.detail ?? "") || LEAK.test(JSON.stringify(problem.errors ?? []))) failures.push(`${label}: leaks internals: ${problem.detail}`);
            if (res.status === 429 || res.status === 503) {
              if (!res.headers.get("retry-after")) failures.push(`${label}: ${res.status} without Retry-After`);
            }
          }
          const after = await databaseChecksum(database.db);
          if ((res.status >= 400 || c.method === "GET") && after !== checksum) failures.push(`${label}: ${res.status} but the database changed`);
          checksum = after;
        }
      }
      const table = Object.entries(stats)
        .map(([k, v]) => `${k.padEnd(44)} ${String(v.cases).padStart(4)} cases  ${JSON.stringify(v.statuses)}`)
        .join("\n");
      console.log(`fuzz: seed ${SEED}, ${total} requests over ${operations.length} operations\n${table}`);
      expect(failures.slice(0, 40)).toEqual([]);
    },
    600_000,
  );
});

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { getTableName, is } from "drizzle-orm";
import { PgTable } from "drizzle-orm/pg-core";
import * as schema from "../db/schema";

/**
 * The import boundaries of STYLE.md, checked on the source text:
 * - db/ imports nothing of ours outside db/;
 * - only service.ts files touch the database (plus the entry point that opens it);
 * - routers and REST handlers call services, never each other;
 * - web/ imports from server/ only zod schemas and pure helpers at run time, and the router as a type;
 * - server/shared/ stays pure;
 * - no file imports itself through others (no import cycles).
 */
const ROOT = resolve(import.meta.dir, "..");

interface Import {
  file: string; // relative to ROOT
  spec: string;
  target: string | null; // resolved path relative to ROOT for our own files, else null
  typeOnly: boolean;
}

function walk(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (["node_modules", ".svelte-kit", "build", "migrations"].includes(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.(ts|svelte)$/.test(name)) out.push(path);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;]*?)\s+from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[4] ?? m[5]!;
    const clause = m[3] ?? "";
    const typeOnly = Boolean(m[2]) || (/^\{[^}]*\}$/.test(clause.trim()) && clause.replace(/[{}\s]/g, "").split(",").filter(Boolean).every((s) => s.startsWith("type ")));
    const target = spec.startsWith(".") ? relative(ROOT, resolve(dirname(file), spec)) : null;
    out.push({ file: relative(ROOT, file), spec, target, typeOnly });
  }
  return out;
}

const all = ["db", "server", "web/src", "scripts"].flatMap((d) => {
  try {
    return walk(join(ROOT, d));
  } catch {
    return [];
  }
});
const imports = all.flatMap(importsOf);
/**
 * db/ files that import nothing at all hold plain values the database and the application share
 * (formats behind CHECK constraints): importing one is not touching the database.
 */
const ourFiles = new Set(all.map((f) => relative(ROOT, f)));
const pureValues = (target: string | null) =>
  target !== null && target.startsWith("db/") && ourFiles.has(`${target}.ts`) && !imports.some((i) => i.file === `${target}.ts`);
const of = (prefix: string) => imports.filter((i) => i.file.startsWith(prefix));
const violations = (list: Import[]) => list.map((i) => `${i.file} imports ${i.spec}`);

/** The literal text of every template literal in TypeScript source (interpolations left out, nested ones included). */
function templateTexts(src: string): string[] {
  const out: string[] = [];
  // Each frame is a template being read, or code inside an interpolation (with its brace depth).
  const stack: ({ kind: "template"; text: string } | { kind: "code"; depth: number })[] = [{ kind: "code", depth: 0 }];
  for (let i = 0; i < src.length; i++) {
    const top = stack.at(-1)!;
    const ch = src[i]!;
    if (top.kind === "template") {
      if (ch === "\\") (top.text += src.slice(i, i + 2)), i++;
      else if (ch === "`") out.push((stack.pop() as { text: string }).text);
      else if (ch === "$" && src[i + 1] === "{") stack.push({ kind: "code", depth: 0 }), i++;
      else top.text += ch;
      continue;
    }
    if (ch === "/" && src[i + 1] === "/") i = src.indexOf("\n", i) === -1 ? src.length : src.indexOf("\n", i);
    else if (ch === "/" && src[i + 1] === "*") i = src.indexOf("*/", i + 2) + 1;
    else if (ch === '"' || ch === "'") {
      for (i++; i < src.length && src[i] !== ch; i++) if (src[i] === "\\") i++;
    } else if (ch === "`") stack.push({ kind: "template", text: "" });
    else if (ch === "{") top.depth++;
    else if (ch === "}") {
      if (top.depth === 0 && stack.length > 1) stack.pop();
      else top.depth--;
    }
  }
  return out;
}

describe("architecture boundaries (STYLE.md)", () => {
  test("the scan sees the code it checks", () => {
    expect(of("server/modules/").length).toBeGreaterThan(20);
    expect(of("db/").length).toBeGreaterThan(3);
  });

  test("db/ imports nothing of ours outside db/", () => {
    expect(violations(of("db/").filter((i) => i.target !== null && !i.target.startsWith("db/")))).toEqual([]);
  });

  test("only service.ts files touch the database", () => {
    const touchesDb = (i: Import) =>
      !i.typeOnly && (i.spec.startsWith("drizzle-orm") || i.spec === "postgres" || i.spec.startsWith("@electric-sql/pglite") || ((i.target?.startsWith("db/") ?? false) && !pureValues(i.target)));
    const allowed = (file: string) => file.endsWith("/service.ts") || file === "server/index.ts";
    expect(violations(of("server/").filter((i) => touchesDb(i) && !allowed(i.file)))).toEqual([]);
  });

  test("routers and REST handlers call services, never each other", () => {
    const edge = /server\/modules\/[^/]+\/(router|rest)(\.ts)?$/;
    const bad = imports.filter((i) => edge.test(i.file) && i.target !== null && edge.test(i.target));
    expect(violations(bad)).toEqual([]);
  });

  test("services do not import routers or REST handlers", () => {
    const bad = imports.filter((i) => i.file.endsWith("/service.ts") && i.target !== null && /\/(router|rest)(\.ts)?$/.test(i.target));
    expect(violations(bad)).toEqual([]);
  });

  test("web/ imports from server/ only schemas and pure helpers, and the router as a type", () => {
    const fromServer = of("web/").filter((i) => i.target?.startsWith("server/"));
    const ok = (i: Import) => i.typeOnly || i.target!.startsWith("server/shared/") || /^server\/modules\/[^/]+\/schema(\.ts)?$/.test(i.target!);
    expect(violations(fromServer.filter((i) => !ok(i)))).toEqual([]);
  });

  test("no import cycles: no file of ours reaches itself through its imports, type-only ones included", () => {
    // Files are nodes, our own imports edges; a cycle is reported once, from its smallest file.
    const resolveTarget = (target: string) => [`${target}.ts`, `${target}/index.ts`, target].find((f) => files.has(f)) ?? null;
    const files = ourFiles;
    const edges = new Map<string, string[]>();
    for (const i of imports) {
      const to = i.target === null ? null : resolveTarget(i.target);
      if (to) edges.set(i.file, [...(edges.get(i.file) ?? []), to]);
    }
    const cycles = new Set<string>();
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, "open");
      stack.push(file);
      for (const next of edges.get(file) ?? []) {
        if (state.get(next) === "open") {
          const cycle = stack.slice(stack.indexOf(next));
          const start = cycle.indexOf([...cycle].sort()[0]!);
          cycles.add([...cycle.slice(start), ...cycle.slice(0, start), cycle[start]].join(" → "));
        } else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of [...files].sort()) if (!state.has(file)) visit(file);
    expect(edges.size).toBeGreaterThan(50);
    expect([...cycles].sort()).toEqual([]);
  });

  test("SQL by reference: no SQL text in server/ names a table or a qualified column by a string of its own", () => {
    // Raw SQL names tables and columns through the Drizzle objects, so a renamed one fails the type
    // check. A table's name written into template text (after from, into, update, join), or a column
    // written qualified ("table"."column", table.column), is drift waiting to happen.
    const tables = (Object.values(schema) as unknown[]).filter((t): t is PgTable => is(t, PgTable)).map((t) => getTableName(t));
    expect(tables).toContain("usage_events");
    const tableRef = new RegExp(`\\b(from|into|update|join)\\s+"?(${tables.join("|")})\\b`, "i");
    const columnRef = new RegExp(`(?<![@.\\w])"?(${tables.join("|")})"?\\."?[a-z_]+`);
    const bad: string[] = [];
    let scanned = 0;
    for (const file of all.filter((f) => relative(ROOT, f).startsWith("server/") && f.endsWith(".ts"))) {
      for (const text of templateTexts(readFileSync(file, "utf8"))) {
        scanned++;
        if (tableRef.test(text) || columnRef.test(text)) bad.push(`${relative(ROOT, file)}: \`${text.trim().slice(0, 120)}\``);
      }
    }
    expect(scanned).toBeGreaterThan(100);
    expect(bad).toEqual([]);
  });

  test("server/shared/ is pure: no database, no services, no I/O", () => {
    const bad = of("server/shared/").filter(
      (i) =>
        i.spec.startsWith("drizzle-orm") ||
        i.spec.startsWith("node:fs") ||
        i.spec === "postgres" ||
        (i.target !== null && !i.target.startsWith("server/shared/") && i.target !== "server/errors" && !pureValues(i.target)),
    );
    expect(violations(bad)).toEqual([]);
  });
});

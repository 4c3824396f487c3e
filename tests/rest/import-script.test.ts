import { expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ctxFor } from "../support/actors";
import { testDatabase } from "../support/db";
import { makeAgent, makeOrg } from "../support/factories";
import { ADMIN_KEY, startTestServer } from "../support/http";
import { ROOT } from "../support/server-process";

/** `bun run import <file>` streams a file to POST /api/usage/import and prints the counts and first errors. */
const database = await testDatabase();
const { base } = startTestServer(database);
const ctx = ctxFor(database);
const org = await makeOrg(ctx, { created_at: "2025-01-01T00:00:00Z" });
const agent = await makeAgent(ctx, { org_id: org.id, created_at: "2025-01-01T00:00:00Z" });
const dir = mkdtempSync(join(tmpdir(), "orgdesk-import-"));

// Asynchronous: the server answering the script runs in this process.
const run = async (...args: string[]) => {
  const proc = Bun.spawn(["bun", "run", "scripts/import.ts", ...args], { cwd: ROOT, env: { ...process.env, ORGDESK_API_KEY: "", ADMIN_API_KEY: "" }, stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, out, err };
};

test("imports a CSV file, prints progress and the counts; a second run finds only duplicates; a bad line is named", async () => {
  const p = `script-${process.pid}-${Date.now().toString(36)}`;
  const lines = Array.from({ length: 50 }, (_, i) => `${p}-${i},${agent.id},gpt-4o,${i},1,2025-06-01T00:00:00Z`);
  const file = join(dir, "usage.csv");
  writeFileSync(file, ["id,agent_id,model,input_tokens,output_tokens,occurred_at", ...lines, `${p}-bad,${agent.id},gpt-4o,-1,1,2025-06-01T00:00:00Z`].join("\n") + "\n");
  const first = await run(file, "--url", base, "--key", ADMIN_KEY);
  expect(first.out).toContain("accepted 50, duplicates 0, rejected 1");
  expect(first.out).toContain(`line 52 (${p}-bad): invalid: input_tokens: must not be negative`);
  expect(first.err).toMatch(/52 rows sent, [\d,]+ rows\/s, 100\.0 % of 0\.0 MB, done in \d+ s/);
  expect(first.code).toBe(1);
  const again = await run(file, "--url", base, "--key", ADMIN_KEY);
  expect(again.out).toContain("accepted 0, duplicates 50, rejected 1");
});

test("refuses to guess: no key, an unknown extension, a missing file; a refused header is printed with its fields", async () => {
  const file = join(dir, "usage.txt");
  writeFileSync(file, "x\n");
  expect(await run(file, "--url", base, "--key", ADMIN_KEY)).toMatchObject({ code: 2, err: expect.stringContaining("--format csv or --format ndjson") });
  expect(await run(join(dir, "usage.csv"), "--url", base)).toMatchObject({ code: 2, err: expect.stringContaining("An API key is needed") });
  expect(await run(join(dir, "missing.csv"), "--url", base, "--key", ADMIN_KEY)).toMatchObject({ code: 2, err: expect.stringContaining("no such file") });
  const bad = join(dir, "bad.csv");
  writeFileSync(bad, "id,agentid\n");
  const refused = await run(bad, "--url", base, "--key", ADMIN_KEY);
  expect(refused.code).toBe(1);
  expect(refused.err).toContain("The server refused the file: 400");
  expect(refused.err).toContain("header.agentid: is not an Event field");
});

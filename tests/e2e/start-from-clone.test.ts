import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { testDatabase } from "../support/db";
import { captureOutput, listeningPort } from "../support/server-process";
import { waitFor } from "../support/wait";
import { axeBlockers, expectNoBlockers } from "./support/axe";
import { launchBrowser } from "./support/browser";
import { ROOT } from "./support/web-build";

/**
 * The README's production path as a new user takes it: a clone (no web/build, no node_modules),
 * `bun install`, then `bun run start` with DATABASE_URL. The web console must be built on the way
 * (the log says so) and served at `/`; the API answers beside it; a second start does not rebuild.
 */
const database = await testDatabase();
const clone = mkdtempSync(join(tmpdir(), "orgdesk-clone-"));
afterAll(() => rmSync(clone, { recursive: true, force: true }));

function run(cmd: string[], cwd: string) {
  const result = Bun.spawnSync(cmd, { cwd, stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed:\n${result.stderr.toString()}${result.stdout.toString()}`);
  return result.stdout.toString();
}

/**
 * A clone of this repository, plus what the working tree changes on top of its last commit
 * (modified, new and deleted files; ignored ones never), so the test runs the code in front of it.
 */
function cloneWorkingTree() {
  run(["git", "clone", "--quiet", "--no-hardlinks", ROOT, clone], tmpdir());
  const list = (...args: string[]) => run(["git", "ls-files", "-z", ...args], ROOT).split("\0").filter(Boolean);
  for (const file of list("--modified", "--others", "--exclude-standard")) {
    if (!existsSync(join(ROOT, file))) continue;
    mkdirSync(dirname(join(clone, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(clone, file));
  }
  for (const file of list("--deleted")) rmSync(join(clone, file), { force: true });
}

/** `bun run start` in the clone, as the README says, on a port the system picks. */
async function start() {
  const child = Bun.spawn(["bun", "run", "start"], {
    cwd: clone,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", DATABASE_URL: database.url!, PORT: "0", HOST: "127.0.0.1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = captureOutput(child);
  afterAll(() => child.kill("SIGKILL"));
  // The first start builds the console: minutes on a busy machine, not seconds.
  const port = await listeningPort(child, output, 240_000, "bun run start");
  return {
    base: `http://127.0.0.1:${port}`,
    output,
    stop: async () => {
      child.kill("SIGTERM");
      return await child.exited;
    },
  };
}

describe("bun run start on a fresh clone", () => {
  test("builds the web console once, saying so, and serves it at / with the API beside it", async () => {
    cloneWorkingTree();
    expect(existsSync(join(clone, "web/build"))).toBe(false);
    expect(existsSync(join(clone, "node_modules"))).toBe(false);
    run(["bun", "install"], clone);

    const server = await start();
    // The lines after "listening on" may arrive in a later chunk of the pipe: wait for the last one.
    await waitFor("the start-up's last line", () => server.output().includes("No user exists yet"));
    expect(server.output()).toContain("No build of the web console in web/build yet: building it now");
    expect(server.output()).toMatch(/Built the web console into web\/build in [\d.]+ s/);
    expect(server.output()).toContain("Web console: http://localhost:");
    expect(server.output()).toContain("No user exists yet: open http://localhost:");

    const home = await fetch(server.base + "/");
    expect(home.status).toBe(200);
    expect(home.headers.get("content-type")).toContain("text/html");
    const html = await home.text();
    expect(html).toContain("<title>Orgdesk</title>");
    expect(html).toMatch(/\/_app\/immutable\/entry\/start\.[\w-]+\.js/);
    // A client-side route gets the same app shell, and the route the build rendered ahead its own
    // page when the visitor has a session (docs/web.md, "First visit"); the API answers as itself.
    expect(await (await fetch(server.base + "/agents")).text()).toBe(html);
    expect(await (await fetch(server.base + "/organizations")).text()).toBe(html);
    const organizations = await (await fetch(server.base + "/organizations", { headers: { cookie: "orgdesk_session=some-token" } })).text();
    expect(organizations).toContain("<title>Organizations · Orgdesk</title>");
    expect(organizations).toContain(">Client tenants, their agents, rates and month-to-date billing.</p>");
    const health = await fetch(server.base + "/api/health");
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok" });

    // The console runs: a fresh install sends the visitor to create the first owner.
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(server.base + "/");
      await page.waitForURL("**/setup");
      await page.getByRole("heading", { name: "Create the owner account" }).waitFor();
      // The one screen only a fresh install shows, checked here at both widths.
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: 844 });
        expectNoBlockers(await axeBlockers(page, `first-run setup @${width}`));
      }
    } finally {
      await browser.close();
    }
    expect(await server.stop()).toBe(0);
  }, 300_000);

  test("a second start serves the build it has, without building again", async () => {
    const server = await start();
    expect(server.output()).not.toContain("building it now");
    expect((await fetch(server.base + "/")).status).toBe(200);
    expect(await server.stop()).toBe(0);
  }, 60_000);
});

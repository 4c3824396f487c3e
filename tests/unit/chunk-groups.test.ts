import { describe, expect, test } from "bun:test";
import { FRAMEWORK, OWN_SMALL } from "../../web/chunk-groups";

/** The web build's chunk rules match the modules they are written for, and no others (docs/web.md, "First visit"). */
describe("the web build's chunk groups", () => {
  test("Orgdesk's own small modules can join the app's chunk, from web/src/lib and server/", () => {
    for (const id of ["/work/orgdesk/web/src/lib/format.ts", "/work/orgdesk/server/modules/orgs/schema.ts", "C:\\orgdesk\\server\\money.ts"]) {
      expect({ id, matched: OWN_SMALL.test(id) }).toEqual({ id, matched: true });
    }
  });

  test("a package's modules never do, even under a server/ folder or a folder ending in server", () => {
    for (const id of [
      "/work/orgdesk/node_modules/runed/dist/utilities/use-resize-observer/index.js",
      "/work/orgdesk/node_modules/layerchart/node_modules/runed/dist/utilities/use-mutation-observer/index.js",
      "/work/orgdesk/node_modules/@trpc/server/dist/codes-nbrm_zWY.mjs",
      "/work/orgdesk/node_modules/some-package/web/src/lib/x.js",
      "/work/orgdesk/web/src/routes/observer/+page.svelte",
    ]) {
      expect({ id, matched: OWN_SMALL.test(id) }).toEqual({ id, matched: false });
    }
  });

  test("the framework group takes Svelte, SvelteKit and the tRPC client, not other packages", () => {
    expect(FRAMEWORK.test("/w/node_modules/svelte/src/internal/client/index.js")).toBe(true);
    expect(FRAMEWORK.test("/w/node_modules/@trpc/client/dist/index.mjs")).toBe(true);
    expect(FRAMEWORK.test("/w/node_modules/layerchart/dist/index.js")).toBe(false);
  });
});

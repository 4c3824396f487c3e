import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * The SPA fallback page names only the app's entry modules; the modules of the route being opened
 * (its layouts' and page's nodes and the chunks they import) are asked for only once the router has
 * started, one level of imports at a time. This adds a few lines to the fallback's <head> that,
 * from `location.pathname`, add `<link rel="modulepreload">` for exactly the modules of the matching
 * route, so they download beside the entry. They replace the `<!-- route preloads -->` marker of
 * `src/app.html`, which sits above the stylesheet (an inline script waits for the stylesheets before
 * it) (docs/web.md, "First visit"). The route patterns and
 * each node's imports are SvelteKit's own build output (the server manifest it uses for SSR
 * preload hints), so the hints follow the routes as they change.
 *
 * @param {import("@sveltejs/kit").Builder} builder
 * @param {string} fallbackFile the written fallback page
 */
export async function addRoutePreloads(builder, fallbackFile) {
  /** @type {{ _: { client: { imports: string[] }, nodes: (() => Promise<{ imports?: string[], stylesheets?: string[] }>)[], routes: { pattern: RegExp, page: { layouts: (number | undefined)[], errors: (number | undefined)[], leaf: number } | null }[] } }} */
  const { manifest } = await import(pathToFileURL(join(builder.getServerDirectory(), "manifest-full.js")).href);
  const html = readFileSync(fallbackFile, "utf8");
  const MARKER = "<!-- route preloads -->";
  if (!html.includes(MARKER)) throw new Error(`${fallbackFile} has no ${MARKER} (src/app.html places it before the stylesheets)`);
  // What the page already names (the entry, the root layout and their imports and styles).
  const named = (/** @type {string} */ f) => manifest._.client.imports.includes(f) || html.includes(`/${f}"`);
  /** @type {string[]} */
  const files = [];
  /** @type {Map<string, number>} */
  const indexOf = new Map();
  /** @param {string} f */
  const fileIndex = (f) => {
    if (!indexOf.has(f)) indexOf.set(f, files.push(f) - 1);
    return /** @type {number} */ (indexOf.get(f));
  };
  /** @type {[string, number[], number[]][]} */
  const routes = [];
  for (const route of manifest._.routes) {
    if (!route.page) continue;
    // The error pages too: the router fetches them beside the route, in case it needs one.
    const nodes = [...route.page.layouts, route.page.leaf, ...route.page.errors].filter((n) => n !== undefined);
    const modules = new Set();
    const styles = new Set();
    for (const n of nodes) {
      const node = await manifest._.nodes[n]?.();
      for (const f of node?.imports ?? []) if (!named(f)) modules.add(f);
      for (const f of node?.stylesheets ?? []) if (!named(f)) styles.add(f);
    }
    routes.push([route.pattern.source, [...modules].map(fileIndex), [...styles].map(fileIndex)]);
  }
  const base = builder.config.kit.paths.base;
  const script = `<script>
      // The modules of the route being opened, fetched beside the app's entry (web/preload-routes.js).
      (() => {
        const files = ${JSON.stringify(files)};
        for (const [pattern, modules, styles] of ${JSON.stringify(routes)}) {
          if (!new RegExp(pattern).test(location.pathname)) continue;
          const add = (rel, file, as) => {
            const link = document.createElement("link");
            link.rel = rel;
            link.href = ${JSON.stringify(base)} + "/" + files[file];
            if (as) link.as = as;
            document.head.appendChild(link);
          };
          for (const f of modules) add("modulepreload", f);
          for (const f of styles) add("preload", f, "style");
          break;
        }
      })();
    </script>`;
  writeFileSync(fallbackFile, html.replace(MARKER, script));
}

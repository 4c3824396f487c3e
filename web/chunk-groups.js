/**
 * How the web build groups modules into chunks (docs/web.md, "First visit"): fewer and larger
 * chunks for the first visit.
 *
 * - The framework every screen needs (Svelte, SvelteKit's client, TanStack Query, the tRPC
 *   client) is one file.
 * - The app's own shared code used by four or more entries (routes, layouts) is another. What fewer
 *   screens use stays with them, so other routes stay lazily loaded.
 * - Orgdesk's own small shared modules (under 1 KB, in web/src/lib or server/: a few constants, a
 *   helper class) join the app's chunk once two entries use them, rather than costing the first
 *   visit a request each. A package's modules never do, even one whose path has a `server/` folder
 *   or ends a folder name in "server", such as `use-resize-observer/`.
 */
export const FRAMEWORK = /node_modules[\\/](svelte|@sveltejs[\\/]kit|esm-env|devalue|clsx|@tanstack|@trpc)[\\/]/;
export const OWN_SHARED = /web[\\/]src[\\/]lib[\\/]/;
export const OWN_SMALL = /^(?!.*[\\/]node_modules[\\/]).*[\\/](web[\\/]src[\\/]lib|server)[\\/]/;

export const chunkGroups = [
  { name: "framework", test: FRAMEWORK, priority: 2 },
  { name: "shell", test: OWN_SHARED, minShareCount: 4, priority: 1 },
  { name: "shell", test: OWN_SMALL, maxModuleSize: 1024, minShareCount: 2, priority: 1 },
];

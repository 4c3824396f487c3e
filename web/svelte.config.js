import adapter from "@sveltejs/adapter-static";
import { vitePreprocess } from "@sveltejs/vite-plugin-svelte";
import { addRoutePreloads } from "./preload-routes.js";

const spa = adapter({ pages: "build", assets: "build", fallback: "index.html", strict: true });

/**
 * The staff web app: a static single-page app (no SSR at run time) that the Bun server serves
 * from web/build, with index.html as the fallback for client-side routes; the organizations page
 * is also rendered at build time (its +page.ts; docs/web.md, "First visit"). The fallback
 * also preloads the modules of the route being opened (`preload-routes.js`), and every file has
 * a compressed copy beside it (`.br`, `.gz`).
 */
/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    adapter: {
      name: spa.name,
      async adapt(builder) {
        await spa.adapt(builder);
        await addRoutePreloads(builder, "build/index.html");
        // Brotli and gzip copies of every file, written after the fallback page is final; the
        // server sends one when the browser accepts it (docs/web.md, "First visit").
        await builder.compress("build");
      },
    },
    version: { pollInterval: 0 },
  },
};

export default config;

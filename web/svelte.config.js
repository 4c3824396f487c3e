import adapter from "@sveltejs/adapter-static";
import { vitePreprocess } from "@sveltejs/vite-plugin-svelte";

/**
 * The staff web app: a static single-page app (no SSR, no prerendering) that the Bun server
 * serves from web/build, with index.html as the fallback for client-side routes.
 */
/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    adapter: adapter({ pages: "build", assets: "build", fallback: "index.html", strict: true }),
    version: { pollInterval: 0 },
  },
};

export default config;

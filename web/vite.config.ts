import { sveltekit } from "@sveltejs/kit/vite";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [tailwindcss(), sveltekit()],
  server: {
    // The app imports zod schemas and pure helpers from ../server at run time.
    fs: { allow: [".."] },
    proxy: { "/trpc": "http://localhost:3000", "/api": "http://localhost:3000" },
  },
  build: {
    target: "es2022",
    // For reading a browser profile by function name (docs/web.md, "First visit").
    minify: process.env.WEB_BUILD_NO_MINIFY ? false : undefined,
    chunkSizeWarningLimit: 400,
    rolldownOptions: {
      output: {
        // Fewer and larger chunks for the first visit (docs/web.md, "First visit"): the framework
        // every screen needs (Svelte, SvelteKit's client, TanStack Query, the tRPC client) is one
        // file, and the app's own shared code used by four or more entries (routes, layouts) is
        // another; what fewer screens use stays with them, so other routes stay lazily loaded. Small
        // shared modules (under 1 KB: a few constants, a helper class) join the app's chunk once
        // two entries use them, rather than costing the first visit a request each.
        codeSplitting: {
          groups: [
            { name: "framework", test: /node_modules[\\/](svelte|@sveltejs[\\/]kit|esm-env|devalue|clsx|@tanstack|@trpc)[\\/]/, priority: 2 },
            { name: "shell", test: /web[\\/]src[\\/]lib[\\/]/, minShareCount: 4, priority: 1 },
            { name: "shell", test: /web[\\/]src[\\/]lib[\\/]|server[\\/]/, maxModuleSize: 1024, minShareCount: 2, priority: 1 },
          ],
        },
      },
    },
  },
});

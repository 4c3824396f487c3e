import { sveltekit } from "@sveltejs/kit/vite";
import tailwindcss from "@tailwindcss/vite";
import { defineConfig } from "vite";
import { chunkGroups } from "./chunk-groups.js";

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
        // Fewer and larger chunks for the first visit (docs/web.md, "First visit").
        codeSplitting: { groups: chunkGroups },
      },
    },
  },
});

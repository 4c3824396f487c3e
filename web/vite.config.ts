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
  build: { target: "es2022", chunkSizeWarningLimit: 400 },
});

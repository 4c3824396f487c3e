/**
 * `bun run start`: Orgdesk as the README runs it in production. The web console is part of it:
 * on a fresh clone it is built first (once, saying so), then the server serves it at `/`.
 */
import { main } from "../server/index";
import { ensureWebConsole } from "./web-build";

try {
  ensureWebConsole();
} catch (err) {
  console.error(`Orgdesk cannot start without its web console: ${err instanceof Error ? err.message : String(err)}`);
  console.error("Install the dependencies with `bun install` (the build needs the development ones), or set WEB_DIR to a built console.");
  process.exit(1);
}
await main();

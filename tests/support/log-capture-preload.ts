import { startCapture } from "./log-capture";

// Preloaded by bunfig.toml for every `bun test` run: see tests/support/log-capture.ts.
startCapture();

import { runApi } from "./b1-api";
import { table, type Row } from "./lib/report";

const t0 = performance.now();
const log = (s: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}`);
const rows: Row[] = [];
rows.push(...(await runApi({ rounds: 5, seconds: 4, connections: 16 }, log)));
console.log("\n" + table(rows));

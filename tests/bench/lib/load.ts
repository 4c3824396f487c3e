/**
 * HTTP load on 127.0.0.1, always bounded in time: wrk (Debian package) when installed, otherwise
 * a small closed-loop generator in Bun with the same shape (N connections, each sending its next
 * request when the previous answer arrived).
 */
export interface LoadResult {
  requestsPerSec: number;
  requests: number;
  errors: number;
  p50Ms: number | null;
  tool: "wrk" | "bun";
}

export interface LoadOptions {
  url: string;
  headers?: Record<string, string>;
  seconds: number;
  connections: number;
}

let wrkPath: string | null | undefined;
export function hasWrk(): boolean {
  if (wrkPath === undefined) wrkPath = Bun.which("wrk");
  return wrkPath !== null;
}

function durationMs(text: string): number {
  const m = text.match(/^([\d.]+)(us|ms|s|m)$/);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === "us" ? v / 1000 : m[2] === "ms" ? v : m[2] === "s" ? v * 1000 : v * 60_000;
}

export function parseWrk(out: string): Omit<LoadResult, "tool"> {
  const rps = out.match(/Requests\/sec:\s+([\d.]+)/);
  const total = out.match(/(\d+) requests in/);
  const non2xx = out.match(/Non-2xx or 3xx responses:\s+(\d+)/);
  const socket = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const p50 = out.match(/^\s+50%\s+(\S+)/m);
  if (!rps || !total) throw new Error(`could not read wrk output:\n${out}`);
  const socketErrors = socket ? socket.slice(1).reduce((s, v) => s + Number(v), 0) : 0;
  return {
    requestsPerSec: Number(rps[1]),
    requests: Number(total[1]),
    errors: (non2xx ? Number(non2xx[1]) : 0) + socketErrors,
    p50Ms: p50 ? durationMs(p50[1]!) : null,
  };
}

export async function load(options: LoadOptions): Promise<LoadResult> {
  if (hasWrk()) {
    const args = [wrkPath!, "-t1", `-c${options.connections}`, `-d${options.seconds}s`, "--latency", "--timeout", "10s"];
    for (const [k, v] of Object.entries(options.headers ?? {})) args.push("-H", `${k}: ${v}`);
    args.push(options.url);
    const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
    const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    await proc.exited;
    if (proc.exitCode !== 0) throw new Error(`wrk failed (${proc.exitCode}): ${err}`);
    return { ...parseWrk(out), tool: "wrk" };
  }
  return bunLoad(options);
}

async function bunLoad(options: LoadOptions): Promise<LoadResult> {
  const deadline = performance.now() + options.seconds * 1000;
  let requests = 0;
  let errors = 0;
  const latencies: number[] = [];
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const res = await fetch(options.url, { headers: options.headers });
        await res.arrayBuffer();
        if (!res.ok) errors++;
      } catch {
        errors++;
      }
      latencies.push(performance.now() - t0);
      requests++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: options.connections }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  return { requestsPerSec: requests / elapsed, requests, errors, p50Ms: median(latencies), tool: "bun" };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall-clock milliseconds of one call. */
export async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const value = await fn();
  return [performance.now() - t0, value];
}

/**
 * Reads `GET /metrics` into a map from series (`name{label="value",…}`, labels sorted) to value,
 * The text format is one sample per line; `#` lines (help, type) are skipped.
 */
export type Samples = Map<string, number>;

export async function scrape(base: string, token: string): Promise<Samples> {
  const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}: ${await res.text()}`);
  return parseExposition(await res.text());
}

export function parseExposition(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels = Object.fromEntries([...(m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, JSON.parse(`"${v}"`) as string]));
    samples.set(series(m[1]!, labels), Number(m[3]));
  }
  return samples;
}

/** The key of one series: `name{a="x",b="y"}` with labels sorted. */
export function series(name: string, labels: Record<string, string> = {}): string {
  const keys = Object.keys(labels).sort();
  return keys.length ? `${name}{${keys.map((k) => `${k}=${JSON.stringify(labels[k])}`).join(",")}}` : name;
}

/** How much each series moved from `before` to `after` (series absent before count from 0). */
export function delta(before: Samples, after: Samples, name: string, labels: Record<string, string> = {}): number {
  const key = series(name, labels);
  return (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

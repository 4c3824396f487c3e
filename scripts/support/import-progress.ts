/**
 * Progress of a file being uploaded by `bun run import`: a pass-through stream that counts the
 * bytes and lines going by, and the line it prints (rows sent, rows/s, ETA from the bytes left).
 * For a gzip file the bytes are compressed ones and the rows are not counted (only bytes and ETA).
 */
export function importProgress(totalBytes: number, compressed: boolean, now: () => number = () => performance.now()) {
  const started = now();
  let bytes = 0;
  let lines = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      if (!compressed) for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
      controller.enqueue(chunk);
    },
  });
  const line = (done = false) => {
    const seconds = Math.max((now() - started) / 1000, 0.001);
    const share = totalBytes > 0 ? bytes / totalBytes : 1;
    const eta = done ? `done in ${formatSeconds(seconds)}` : share > 0 ? `ETA ${formatSeconds(seconds / share - seconds)}` : "ETA …";
    const rows = compressed ? "" : `${lines.toLocaleString("en-US")} rows sent, ${Math.round(lines / seconds).toLocaleString("en-US")} rows/s, `;
    return `${rows}${(share * 100).toFixed(1)} % of ${(totalBytes / 1024 / 1024).toFixed(1)} MB, ${eta}`;
  };
  return { counter, line, counts: () => ({ bytes, lines }) };
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return "…";
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

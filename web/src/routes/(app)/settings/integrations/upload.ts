/** The answer of `POST /api/usage/import` (docs/integrations.md, "Bulk import"). */
export interface ImportResult {
  accepted: number;
  duplicates: number;
  rejected: number;
  errors: { line: number; id: string | null; code: string; message: string }[];
}

/** The media type a file is sent as, by its extension: CSV, or NDJSON (`.ndjson`, `.jsonl`); null for anything else. */
export function importContentType(fileName: string): "text/csv" | "application/x-ndjson" | null {
  const name = fileName.toLowerCase();
  if (name.endsWith(".csv")) return "text/csv";
  if (name.endsWith(".ndjson") || name.endsWith(".jsonl")) return "application/x-ndjson";
  return null;
}

export class UploadError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * POSTs `file` to the bulk import with XMLHttpRequest, which (unlike fetch) reports upload
 * progress: `onProgress` gets the fraction sent, 0 to 1. Resolves to the import's answer; rejects
 * with the problem's detail (docs/api.md) or a network error.
 */
export function uploadImport(file: File, onProgress: (fraction: number) => void, signal?: AbortSignal): Promise<ImportResult> {
  const type = importContentType(file.name);
  if (!type) return Promise.reject(new UploadError("Choose a .csv or .ndjson file", 0));
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/usage/import");
    xhr.setRequestHeader("content-type", type);
    xhr.withCredentials = true;
    xhr.responseType = "text";
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && e.total > 0) onProgress(e.loaded / e.total);
    };
    xhr.onload = () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // Not JSON: a proxy's error page, say.
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && typeof body === "object") {
        onProgress(1);
        resolve(body as ImportResult);
      } else {
        const detail = body && typeof body === "object" && "detail" in body ? String((body as { detail: unknown }).detail) : `The import failed (HTTP ${xhr.status})`;
        reject(new UploadError(detail, xhr.status));
      }
    };
    xhr.onerror = () => reject(new UploadError("The server could not be reached", 0));
    xhr.onabort = () => reject(new UploadError("Upload cancelled", 0));
    signal?.addEventListener("abort", () => xhr.abort());
    xhr.send(file);
  });
}

/** A file the server built, as tRPC carries it: text as is, bytes (a PDF) as base64. */
export interface ServerFile {
  filename: string;
  content_type: string;
  content: string;
  encoding?: "utf-8" | "base64";
}

/** Saves a file the server built under the server's file name. */
export function saveFile(file: ServerFile): string {
  const body = file.encoding === "base64" ? Uint8Array.from(atob(file.content), (c) => c.charCodeAt(0)) : file.content;
  const url = URL.createObjectURL(new Blob([body], { type: file.content_type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = file.filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return file.filename;
}

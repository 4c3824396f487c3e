import { api } from "./api";

/**
 * Downloads an organization's billing as a file. The server builds the file (the same CSV the
 * REST export serves); the browser saves it under the server's file name.
 */
export async function downloadBillingExport(org: string, range: { from?: string; to?: string }, format: "csv" | "json" = "csv"): Promise<string> {
  const file = await api.billing.export.query({ id: org, ...range, format });
  const url = URL.createObjectURL(new Blob([file.content], { type: file.content_type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = file.filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return file.filename;
}

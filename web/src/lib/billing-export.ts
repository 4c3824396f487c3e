import { api } from "./api";
import { saveFile } from "./download";

/**
 * Downloads an organization's billing as a file. The server builds the file (the same CSV the
 * REST export serves); the browser saves it under the server's file name.
 */
export async function downloadBillingExport(org: string, range: { from?: string; to?: string }, format: "csv" | "json" = "csv"): Promise<string> {
  return saveFile(await api.billing.export.query({ id: org, ...range, format }));
}

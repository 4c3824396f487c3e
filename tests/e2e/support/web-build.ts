import { buildWebApp, ROOT, WEB_BUILD, webBuildState } from "../../../scripts/web-build";

export { ROOT, WEB_BUILD };

/** Builds the web app once when web/build is missing or older than its sources. */
export function ensureWebBuild(): string {
  if (webBuildState() !== "fresh") buildWebApp();
  return WEB_BUILD;
}

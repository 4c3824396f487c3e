import { createTRPCClient, httpBatchLink, httpLink, splitLink, TRPCClientError } from "@trpc/client";
import type { AppRouter } from "../../../server/trpc/router";

/**
 * The typed tRPC client. Only the router's type crosses from the server, so a renamed server
 * field breaks `bun run check` here. The session cookie authenticates every call.
 */
const fetchSameOrigin = (url: URL | RequestInfo, init?: RequestInit) => fetch(url, { ...init, credentials: "same-origin" });

/**
 * Calls made in the same tick share one HTTP request, whose answer waits for the slowest of them.
 * A heavy report (`context: { unbatched: true }`, see `lib/queries.ts`) goes alone, so the quick
 * calls beside it — the organizations grid beside its month-to-date overview — are drawn without
 * waiting for it.
 */
export const api = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: (op) => op.context.unbatched === true,
      true: httpLink({ url: "/trpc", fetch: fetchSameOrigin }),
      false: httpBatchLink({ url: "/trpc", maxURLLength: 4000, fetch: fetchSameOrigin }),
    }),
  ],
});

export interface FieldError {
  path: string;
  message: string;
}

/** The problem document the server attaches to every error (docs/api.md), or a generic one. */
export interface Problem {
  status: number;
  detail: string;
  code: string;
  errors: FieldError[];
}

export function problemOf(err: unknown): Problem {
  if (err instanceof TRPCClientError) {
    const data = err.data as { problem?: Partial<Problem>; httpStatus?: number } | undefined;
    const p = data?.problem;
    if (p) return { status: p.status ?? 500, detail: p.detail ?? err.message, code: p.code ?? "ERROR", errors: p.errors ?? [] };
    return { status: data?.httpStatus ?? 0, detail: err.message || "The server could not be reached", code: "NETWORK", errors: [] };
  }
  return { status: 0, detail: err instanceof Error ? err.message : "Something went wrong", code: "ERROR", errors: [] };
}

/** Field errors by path ("name", "slug", …), for showing them beside their fields. */
export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of problemOf(err).errors) out[e.path] ??= e.message;
  return out;
}

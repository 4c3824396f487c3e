import { afterAll } from "bun:test";
import type { Database } from "../../db/client";
import { createApp } from "../../server/app";
import type { Config } from "../../server/config";
import { TEST_CONFIG } from "./actors";

export const ADMIN_KEY = TEST_CONFIG.adminApiKey!;

/** Serves the real app on a free port over `database`; stopped after the file's tests. */
export function startTestServer(database: Database, overrides: Partial<Config> = {}) {
  const config = { ...TEST_CONFIG, ...overrides };
  const app = createApp({ database, config });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: (req, srv) => app.fetch(req, { server: srv }), maxRequestBodySize: Number.MAX_SAFE_INTEGER });
  afterAll(() => server.stop(true));
  const base = `http://127.0.0.1:${server.port}`;
  return { base, server, app, config, api: client(base, ADMIN_KEY) };
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A small JSON client: `api.post("/api/organizations", {...})` → { status, headers, body }. */
export function client(base: string, key?: string) {
  const call = async <T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiResponse<T>> => {
    const res = await fetch(base + path, {
      method,
      headers: {
        ...(key ? { "x-api-key": key } : {}),
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {}
    return { status: res.status, headers: res.headers, body: parsed as T };
  };
  return {
    get: <T = any>(path: string, headers?: Record<string, string>) => call<T>("GET", path, undefined, headers),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>("POST", path, body, headers),
    patch: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>("PATCH", path, body, headers),
    put: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => call<T>("PUT", path, body, headers),
    delete: <T = any>(path: string, headers?: Record<string, string>) => call<T>("DELETE", path, undefined, headers),
    raw: call,
  };
}

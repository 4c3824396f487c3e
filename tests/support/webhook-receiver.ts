import { afterAll } from "bun:test";

export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Date.now() when the request arrived. */
  at: number;
}

type Respond = (req: Request, n: number) => Response | Promise<Response>;

/**
 * A local webhook receiver on 127.0.0.1 (the only kind of receiver tests may use): records every
 * request and answers as `respond` says (200 by default). Stopped after the file's tests.
 */
export function startReceiver(respond: Respond = () => new Response("ok")) {
  let answer = respond;
  const received: Received[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    idleTimeout: 60,
    fetch: async (req) => {
      const body = await req.text();
      const headers: Record<string, string> = {};
      req.headers.forEach((value, name) => (headers[name] = value));
      received.push({ path: new URL(req.url).pathname, headers, body, at: Date.now() });
      return answer(req, received.length);
    },
  });
  afterAll(() => server.stop(true));
  return {
    port: server.port!,
    url: `http://127.0.0.1:${server.port}/hook`,
    received,
    /** Changes how the receiver answers from now on. */
    answer(next: Respond) {
      answer = next;
    },
    stop: () => server.stop(true),
  };
}

/** A local port where nothing listens (a receiver that is down). */
export async function deadPort(): Promise<number> {
  const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const port = probe.port!;
  await probe.stop(true);
  return port;
}

import ipaddr from "ipaddr.js";
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";

/**
 * Where a webhook may be sent (docs/guardrails.md, "Where webhooks may go"). A receiver must be
 * https and a public address; with WEBHOOK_ALLOW_PRIVATE=1 loopback, private, link-local and
 * plain http receivers are allowed too (tests, on-premises receivers).
 *
 * The address is checked where it matters, at every attempt: the host name is resolved once, every
 * address it resolves to is checked, and the request connects to the checked address (the URL's
 * host is kept in the Host header and in TLS SNI and certificate checks), so a DNS answer that
 * changes between the check and the connection cannot redirect it. Redirects are never followed.
 */

export type Lookup = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

const RANGE_NAMES: Record<string, string> = {
  loopback: "a loopback address",
  private: "a private address",
  uniqueLocal: "a private address",
  linkLocal: "a link-local address (where cloud metadata services answer)",
  carrierGradeNat: "a shared (carrier-grade NAT) address, where some cloud metadata services answer",
  unspecified: "an unspecified address",
  multicast: "a multicast address",
  broadcast: "a broadcast address",
};

/** Why `address` may not receive webhooks (unless private receivers are allowed), or null for a public address. */
export function addressProblem(address: string): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    // process() turns IPv4-mapped IPv6 (::ffff:10.0.0.1) into the IPv4 address it carries.
    parsed = ipaddr.process(address);
  } catch {
    return "is not an IP address";
  }
  const range = parsed.range();
  if (range === "unicast") return null;
  return `is ${RANGE_NAMES[range] ?? `a reserved address (${range})`}`;
}

/** The URL's host without IPv6 brackets. */
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, "$1");

/**
 * What is wrong with a receiver URL as written, or null: the scheme, credentials, a fragment, and
 * a host that is itself a refused address or a `localhost` name. Names are resolved at send time.
 */
export function urlProblem(raw: string, allowPrivate: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "is not a valid URL";
  }
  if (url.protocol !== "https:" && !(allowPrivate && url.protocol === "http:")) return allowPrivate ? "must use https or http" : "must use https";
  if (url.username || url.password) return "must not contain credentials";
  if (url.hash) return "must not contain a fragment (#…)";
  if (allowPrivate) return null;
  const host = hostOf(url);
  if (host === "localhost" || host.endsWith(".localhost")) return `must not point to ${host}, which is a loopback address`;
  if (isIP(host)) {
    const problem = addressProblem(host);
    if (problem) return `must not point to ${host}, which ${problem}`;
  }
  return null;
}

/** `literal`: the host is an address written in the URL, so no DNS answer is involved and the check holds for as long as the URL does. */
export type ResolvedTarget = { ok: true; url: URL; address: string; family: 4 | 6; literal: boolean } | { ok: false; error: string };

/**
 * Resolves a receiver URL once and checks every address it resolves to: one refused address
 * refuses the target (a name that answers both a public and a private address could be steered to
 * the private one). Returns the address to connect to.
 */
export async function resolveTarget(raw: string, options: { allowPrivate: boolean; lookup?: Lookup }): Promise<ResolvedTarget> {
  const problem = urlProblem(raw, options.allowPrivate);
  if (problem) return { ok: false, error: `The URL ${problem}` };
  const url = new URL(raw);
  const host = hostOf(url);
  let addresses: { address: string; family: number }[];
  if (isIP(host)) {
    addresses = [{ address: host, family: isIP(host) }];
  } else {
    try {
      addresses = await (options.lookup ?? systemLookup)(host);
    } catch (err) {
      return { ok: false, error: `${host} could not be resolved (${(err as { code?: string }).code ?? (err as Error).message})` };
    }
    if (addresses.length === 0) return { ok: false, error: `${host} resolves to no address` };
  }
  if (!options.allowPrivate) {
    for (const { address } of addresses) {
      const refused = addressProblem(address);
      if (refused) return { ok: false, error: `Refused: ${host} resolves to ${address}, which ${refused}` };
    }
  }
  const first = addresses[0]!;
  return { ok: true, url, address: first.address, family: first.family === 6 ? 6 : 4, literal: isIP(host) !== 0 };
}

/**
 * The request for a resolved target: the URL with its host replaced by the checked address, the
 * original host in the Host header, and TLS SNI and certificate checks against the original name.
 */
export function pinnedRequest(target: Extract<ResolvedTarget, { ok: true }>): { url: string; host: string; serverName: string } {
  const { url } = target;
  const pinned = new URL(url.toString());
  pinned.hostname = target.family === 6 ? `[${target.address}]` : target.address;
  return { url: pinned.toString(), host: url.host, serverName: hostOf(url) };
}

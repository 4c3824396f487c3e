import { expect, test } from "bun:test";
import { open, seal } from "../../server/auth/secret-box";
import { loadConfig } from "../../server/config";
import { addressProblem, pinnedRequest, resolveTarget, urlProblem } from "../../server/modules/webhooks/target";

/** Where webhooks may go (docs/guardrails.md): the rules as pure functions, with a stand-in for DNS. */

test("public addresses are allowed; loopback, private, link-local, shared, reserved and mapped forms are not", () => {
  for (const ok of ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"]) expect({ ok, problem: addressProblem(ok) }).toEqual({ ok, problem: null });
  const refused: [string, string][] = [
    ["127.0.0.1", "loopback"],
    ["127.255.0.9", "loopback"],
    ["::1", "loopback"],
    ["10.0.0.1", "private"],
    ["172.16.5.4", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["fc00::1", "private"],
    ["fd00:ec2::254", "private"],
    ["169.254.169.254", "link-local"],
    ["fe80::1", "link-local"],
    ["100.100.100.200", "carrier-grade NAT"],
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["::ffff:127.0.0.1", "loopback"],
    ["::ffff:10.0.0.1", "private"],
    ["64:ff9b::a00:1", "reserved"],
    ["not-an-ip", "not an IP address"],
  ];
  for (const [address, why] of refused) expect({ address, problem: addressProblem(address) }).toEqual({ address, problem: expect.stringContaining(why) });
  expect(addressProblem("172.32.0.1")).toBeNull();
});

test("URLs as written: https, no credentials or fragment, and no refused literal host unless private receivers are allowed", () => {
  expect(urlProblem("https://hooks.example.com/x?a=1", false)).toBeNull();
  expect(urlProblem("https://hooks.example.com:8443/x", false)).toBeNull();
  expect(urlProblem("http://hooks.example.com/x", false)).toBe("must use https");
  expect(urlProblem("ftp://hooks.example.com/x", true)).toBe("must use https or http");
  expect(urlProblem("https://a:b@hooks.example.com/x", false)).toBe("must not contain credentials");
  expect(urlProblem("https://hooks.example.com/x#frag", false)).toBe("must not contain a fragment (#…)");
  expect(urlProblem("https://2130706433/x", false)).toContain("127.0.0.1, which is a loopback address");
  expect(urlProblem("https://0177.0.0.1/x", false)).toContain("loopback");
  expect(urlProblem("https://[::ffff:a9fe:a9fe]/x", false)).toContain("link-local");
  expect(urlProblem("https://api.localhost/x", false)).toContain("loopback");
  expect(urlProblem("http://127.0.0.1:8080/x", true)).toBeNull();
  expect(urlProblem("nope", false)).toBe("is not a valid URL");
});

test("a name is resolved once, every answer is checked, and the request is pinned to the first answer", async () => {
  let asked = 0;
  const lookup = async () => {
    asked++;
    return [
      { address: "2606:4700:4700::1111", family: 6 },
      { address: "93.184.215.14", family: 4 },
    ];
  };
  const target = await resolveTarget("https://hooks.example.com:8443/in?x=1", { allowPrivate: false, lookup });
  expect(asked).toBe(1);
  expect(target).toMatchObject({ ok: true, address: "2606:4700:4700::1111", family: 6, literal: false });
  // An address written in the URL is its own answer: no lookup, and marked as such.
  expect(await resolveTarget("http://[::1]:9000/in", { allowPrivate: true, lookup })).toMatchObject({ ok: true, address: "::1", family: 6, literal: true });
  expect(asked).toBe(1);
  if (!target.ok) throw new Error("unreachable");
  expect(pinnedRequest(target)).toEqual({ url: "https://[2606:4700:4700::1111]:8443/in?x=1", host: "hooks.example.com:8443", serverName: "hooks.example.com" });

  const mixed = await resolveTarget("https://hooks.example.com/", { allowPrivate: false, lookup: async () => [{ address: "93.184.215.14", family: 4 }, { address: "169.254.169.254", family: 4 }] });
  expect(mixed).toEqual({ ok: false, error: "Refused: hooks.example.com resolves to 169.254.169.254, which is a link-local address (where cloud metadata services answer)" });
  expect(await resolveTarget("https://nowhere.example/", { allowPrivate: false, lookup: async () => [] })).toEqual({ ok: false, error: "nowhere.example resolves to no address" });
  const failing = await resolveTarget("https://nowhere.example/", { allowPrivate: false, lookup: async () => Promise.reject(Object.assign(new Error("not found"), { code: "ENOTFOUND" })) });
  expect(failing).toEqual({ ok: false, error: "nowhere.example could not be resolved (ENOTFOUND)" });
  // An IP literal needs no lookup.
  expect(await resolveTarget("http://127.0.0.1:9/x", { allowPrivate: true, lookup: async () => Promise.reject(new Error("must not be asked")) })).toMatchObject({ ok: true, address: "127.0.0.1" });
});

test("a sealed secret opens only with its key and for the row it was sealed for", () => {
  const key = new Uint8Array(32).fill(1);
  const sealed = seal(key, "whsec_c2VjcmV0", "row-1");
  expect(sealed).toStartWith("v1:");
  expect(sealed).not.toContain("c2VjcmV0");
  expect(seal(key, "whsec_c2VjcmV0", "row-1")).not.toBe(sealed);
  expect(open(key, sealed, "row-1")).toBe("whsec_c2VjcmV0");
  expect(() => open(key, sealed, "row-2")).toThrow("not the key it was sealed with");
  expect(() => open(new Uint8Array(32).fill(2), sealed, "row-1")).toThrow("not the key it was sealed with");
  expect(() => seal(undefined, "x", "row-1")).toThrow(expect.objectContaining({ code: "UNAVAILABLE" }));
});

test("configuration of jobs and webhooks is read strictly", () => {
  const base = loadConfig({});
  expect(base).toMatchObject({ jobsEnabled: true, jobPollIntervalMs: 1000, jobConcurrency: 4, jobListen: true, webhookAllowPrivate: false, webhookTimeoutMs: 15000, webhookRetryUnitMs: 1000, webhookLogRetentionDays: 30 });
  expect(base.secretsKey).toBeUndefined();
  expect(loadConfig({ SECRETS_KEY: "ab".repeat(32) }).secretsKey).toEqual(new Uint8Array(32).fill(0xab));
  expect(loadConfig({ SECRETS_KEY: Buffer.alloc(32, 7).toString("base64") }).secretsKey).toEqual(new Uint8Array(32).fill(7));
  expect(() => loadConfig({ SECRETS_KEY: "too short" })).toThrow("SECRETS_KEY must be 32 bytes");
  expect(() => loadConfig({ SECRETS_KEY: Buffer.alloc(16).toString("base64") })).toThrow("SECRETS_KEY must be 32 bytes");
  expect(loadConfig({ WEBHOOK_RETRY_UNIT_MS: "0.02" }).webhookRetryUnitMs).toBe(0.02);
  expect(() => loadConfig({ WEBHOOK_RETRY_UNIT_MS: "0" })).toThrow("positive number");
  expect(() => loadConfig({ WEBHOOK_RETRY_UNIT_MS: "1e3" })).toThrow("positive number");
  expect(loadConfig({ JOBS_ENABLED: "0", JOB_LISTEN: "off", WEBHOOK_ALLOW_PRIVATE: "1" })).toMatchObject({ jobsEnabled: false, jobListen: false, webhookAllowPrivate: true });
  expect(() => loadConfig({ WEBHOOK_ALLOW_PRIVATE: "maybe" })).toThrow("WEBHOOK_ALLOW_PRIVATE must be 1 or 0");
  expect(() => loadConfig({ JOB_CONCURRENCY: "0" })).toThrow("JOB_CONCURRENCY");
});

import { expect, test } from "bun:test";
import { loadConfig } from "../../server/config";

test("PUBLIC_URL is this server's address without a trailing slash, a path prefix kept; unset, the request's address is used", () => {
  expect(loadConfig({ PUBLIC_URL: "https://orgdesk.example.com/" }).publicUrl).toBe("https://orgdesk.example.com");
  expect(loadConfig({ PUBLIC_URL: " https://tools.example.com/orgdesk/ " }).publicUrl).toBe("https://tools.example.com/orgdesk");
  expect(loadConfig({}).publicUrl).toBeUndefined();
  expect(loadConfig({ PUBLIC_URL: "" }).publicUrl).toBeUndefined();
});

test("a PUBLIC_URL that is not an http(s) address stops the start, naming it", () => {
  expect(() => loadConfig({ PUBLIC_URL: "orgdesk.example.com" })).toThrow(/PUBLIC_URL/);
  expect(() => loadConfig({ PUBLIC_URL: "ftp://orgdesk.example.com" })).toThrow(/PUBLIC_URL/);
});

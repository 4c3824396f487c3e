import { expect, test } from "bun:test";
import { loadConfig } from "../../server/config";

test("USAGE_RETENTION_MONTHS: unset keeps everything; a whole number of months from 1; anything else stops the server", () => {
  expect(loadConfig({}).usageRetentionMonths).toBeNull();
  expect(loadConfig({ USAGE_RETENTION_MONTHS: "" }).usageRetentionMonths).toBeNull();
  expect(loadConfig({ USAGE_RETENTION_MONTHS: "13" }).usageRetentionMonths).toBe(13);
  expect(loadConfig({ USAGE_RETENTION_MONTHS: " 1 " }).usageRetentionMonths).toBe(1);
  for (const bad of ["0", "-3", "1.5", "12 months", "1e2", "1201"]) expect(() => loadConfig({ USAGE_RETENTION_MONTHS: bad })).toThrow("USAGE_RETENTION_MONTHS must be a whole number");
});

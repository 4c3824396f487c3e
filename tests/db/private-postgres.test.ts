import { expect, test } from "bun:test";
import { TEST_DB_KIND } from "../support/db";
import { ephemeralPortRange, freeStablePort, startPrivatePostgres } from "../support/private-postgres";

/**
 * The fault tests stop their private cluster and start it again on the same port. A port inside
 * the kernel's ephemeral range can be taken meanwhile as the local end of an outgoing connection,
 * and the restart then fails; CI once failed that way. These tests show the mechanism and that the
 * helper avoids it.
 */
const skip = TEST_DB_KIND === "pglite";

test("the private cluster's port is never one the kernel hands out to outgoing connections", () => {
  const [low] = ephemeralPortRange();
  for (let i = 0; i < 50; i++) expect(freeStablePort()).toBeLessThan(low);
});

test.skipIf(skip)("a restart on a port that something else holds fails with the server log's reason; once freed, it starts", async () => {
  const pg = await startPrivatePostgres();
  pg.stop("fast");
  const squatter = Bun.listen({ hostname: "127.0.0.1", port: pg.port, socket: { data() {} } });
  try {
    expect(() => pg.start()).toThrow(/last lines of the server log:[\s\S]*Address already in use/);
  } finally {
    squatter.stop(true);
  }
  pg.start();
  expect(pg.running()).toBe(true);
  pg.destroy();
}, 60_000);

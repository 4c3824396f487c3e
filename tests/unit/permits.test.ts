import { describe, expect, test } from "bun:test";
import { Permits } from "../../server/jobs/permits";

/**
 * The semaphore a row queue's batches share (server/jobs/permits.ts): never more holders than
 * permits, an older batch's waiters (lower rank) before a younger one's, arrival order within a
 * rank.
 */
describe("permits", () => {
  /** Resolves after every settled promise's callbacks have run. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  test("at most `size` holders; a release hands the permit to a waiter, or frees it", async () => {
    const permits = new Permits(2);
    await permits.acquire();
    await permits.acquire();
    expect(permits.held).toBe(2);
    let third = false;
    void permits.acquire().then(() => (third = true));
    await settle();
    expect(third).toBe(false);
    expect(permits.queued).toBe(1);
    permits.release();
    await settle();
    expect(third).toBe(true);
    expect(permits.held).toBe(2);
    permits.release();
    permits.release();
    expect(permits.held).toBe(0);
    expect(() => permits.release()).toThrow("not held");
  });

  test("waiters of an older batch go first, in arrival order within a batch", async () => {
    const permits = new Permits(1);
    await permits.acquire(0);
    const order: string[] = [];
    const wait = (rank: number, name: string) => void permits.acquire(rank).then(() => order.push(name));
    wait(3, "c1");
    wait(2, "b1");
    wait(3, "c2");
    wait(1, "a1");
    wait(2, "b2");
    for (let i = 0; i < 5; i++) {
      permits.release();
      await settle();
    }
    expect(order).toEqual(["a1", "b1", "b2", "c1", "c2"]);
    expect(permits.queued).toBe(0);
  });

  test("a newcomer does not overtake waiters when a permit is free for a moment", async () => {
    const permits = new Permits(1);
    await permits.acquire(5);
    const order: string[] = [];
    void permits.acquire(1).then(() => order.push("waiting"));
    // The release hands the permit to the waiter at once; a later caller, even of a lower rank, waits.
    permits.release();
    void permits.acquire(0).then(() => order.push("newcomer"));
    await settle();
    expect(order).toEqual(["waiting"]);
    permits.release();
    await settle();
    expect(order).toEqual(["waiting", "newcomer"]);
  });

  test("a batch's view shares the pool", async () => {
    const permits = new Permits(3);
    const older = permits.forBatch(1);
    const younger = permits.forBatch(2);
    expect(older.size).toBe(3);
    await older.acquire();
    await older.acquire();
    await younger.acquire();
    let got = false;
    void younger.acquire().then(() => (got = true));
    await settle();
    expect(got).toBe(false);
    older.release();
    await settle();
    expect(got).toBe(true);
    expect(() => new Permits(0)).toThrow();
  });
  test("a waiter whose signal is aborted leaves the queue holding nothing; the next waiter is served in its place", async () => {
    const permits = new Permits(1);
    await permits.acquire(0);
    const controller = new AbortController();
    const order: string[] = [];
    const leaving = permits.acquire(1, controller.signal).then(
      () => order.push("leaving served"),
      (err: Error) => order.push(`leaving: ${err.message}`),
    );
    void permits.acquire(2).then(() => order.push("next"));
    expect(permits.queued).toBe(2);
    controller.abort(new Error("stopped"));
    await leaving;
    expect(permits.queued).toBe(1);
    permits.release();
    await settle();
    expect(order).toEqual(["leaving: stopped", "next"]);
    expect(permits.held).toBe(1);
    permits.release();
    expect(permits.held).toBe(0);
  });

  test("an already aborted signal is refused at once, even with a permit free; an abort after the permit was given changes nothing", async () => {
    const permits = new Permits(1);
    const aborted = AbortSignal.abort(new Error("already"));
    await expect(permits.acquire(0, aborted)).rejects.toThrow("already");
    expect(permits.held).toBe(0);
    const controller = new AbortController();
    await permits.acquire(0, controller.signal);
    controller.abort();
    expect(permits.held).toBe(1);
    permits.release();
    expect(permits.held).toBe(0);
  });
});

/** A caller waiting for a permit: called when one is theirs. */
type Waiter = () => void;

/**
 * A counting semaphore whose waiters are served oldest batch first: at most `size` permits held at
 * once; a waiter of an earlier batch (a lower `rank`) goes before one of a later batch, in arrival
 * order within a batch. The job runner gives each row queue one, sized JOB_CONCURRENCY × the
 * queue's `inFlight`, and every outside request of the queue's batches on the instance holds a
 * permit: the bound on requests in flight holds however the batches overlap, and the oldest batch
 * finishes starting its requests first, so its slot goes to the next claim while the younger
 * batches keep the permits busy (docs/architecture.md, "Row queues").
 */
export class Permits {
  private free: number;
  /** Waiters by rank, lowest first; each rank's in arrival order (few ranks wait at once: one per batch). */
  private readonly waiting: { rank: number; queue: Waiter[]; head: number }[] = [];
  private waiters = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`A semaphore needs at least one permit (got ${size})`);
    this.free = size;
  }

  /**
   * Resolves once a permit is the caller's; release it exactly once. With `signal`: rejects with
   * its reason, holding nothing, when it is aborted first (a stopped batch's workers leave the
   * queue instead of taking permits the batches still running wait for).
   */
  acquire(rank = 0, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.free > 0 && this.waiters === 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      let i = 0;
      while (i < this.waiting.length && this.waiting[i]!.rank < rank) i++;
      let bucket = this.waiting[i];
      if (!bucket || bucket.rank !== rank) this.waiting.splice(i, 0, (bucket = { rank, queue: [], head: 0 }));
      const waiter: Waiter = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        if (this.leave(waiter)) reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      bucket.queue.push(waiter);
      this.waiters++;
    });
  }

  release(): void {
    const bucket = this.waiting[0];
    if (bucket) {
      const next = bucket.queue[bucket.head++]!;
      if (bucket.head === bucket.queue.length) this.waiting.shift();
      this.waiters--;
      next();
    } else if (this.free < this.size) this.free++;
    else throw new Error("A permit was released that was not held");
  }

  /** Takes a waiter out of its queue; false when it was already served. */
  private leave(waiter: Waiter): boolean {
    for (let b = 0; b < this.waiting.length; b++) {
      const bucket = this.waiting[b]!;
      const at = bucket.queue.indexOf(waiter, bucket.head);
      if (at === -1) continue;
      bucket.queue.splice(at, 1);
      if (bucket.head === bucket.queue.length) this.waiting.splice(b, 1);
      this.waiters--;
      return true;
    }
    return false;
  }

  /** The permits of one batch: its requests wait behind those of batches of a lower rank. */
  forBatch(rank: number): RequestPermits {
    return { size: this.size, acquire: (signal) => this.acquire(rank, signal), release: () => this.release() };
  }

  /** Permits held now. */
  get held(): number {
    return this.size - this.free;
  }

  /** Callers waiting for a permit now. */
  get queued(): number {
    return this.waiters;
  }
}

/** What a batch sees of its queue's permits: how many there are, and taking and giving back one. */
export interface RequestPermits {
  readonly size: number;
  /** Rejects, holding nothing, if `signal` is aborted before a permit is free. */
  acquire(signal?: AbortSignal): Promise<void>;
  release(): void;
}

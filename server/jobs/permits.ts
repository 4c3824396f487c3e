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
  private readonly waiting: { rank: number; queue: (() => void)[]; head: number }[] = [];
  private waiters = 0;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new Error(`A semaphore needs at least one permit (got ${size})`);
    this.free = size;
  }

  /** Resolves once a permit is the caller's; release it exactly once. */
  acquire(rank = 0): Promise<void> {
    if (this.free > 0 && this.waiters === 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      let i = 0;
      while (i < this.waiting.length && this.waiting[i]!.rank < rank) i++;
      let bucket = this.waiting[i];
      if (!bucket || bucket.rank !== rank) this.waiting.splice(i, 0, (bucket = { rank, queue: [], head: 0 }));
      bucket.queue.push(resolve);
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

  /** The permits of one batch: its requests wait behind those of batches of a lower rank. */
  forBatch(rank: number): RequestPermits {
    return { size: this.size, acquire: () => this.acquire(rank), release: () => this.release() };
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
  acquire(): Promise<void>;
  release(): void;
}

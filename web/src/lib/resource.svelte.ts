import { untrack } from "svelte";
import { problemOf, type Problem } from "./api";
import { session } from "./session.svelte";

export interface Resource<T> {
  readonly data: T | undefined;
  readonly error: Problem | undefined;
  /** True while a request is in flight (the previous data stays visible meanwhile). */
  readonly loading: boolean;
  refresh(): void;
  /** Replaces the data locally (after a mutation that returned the new value). */
  set(value: T): void;
}

/**
 * Data loaded by `fetcher`, refetched whenever the reactive values it reads synchronously change.
 * Responses that arrive out of order are ignored; a 401 sends the user to sign in.
 */
export function resource<T>(fetcher: () => Promise<T>): Resource<T> {
  let data = $state.raw<T | undefined>(undefined);
  let error = $state.raw<Problem | undefined>(undefined);
  let loading = $state(true);
  let seq = 0;

  function run() {
    const mine = ++seq;
    let promise: Promise<T>;
    try {
      promise = fetcher();
    } catch (err) {
      promise = Promise.reject(err);
    }
    untrack(() => (loading = true));
    promise.then(
      (value) => {
        if (mine !== seq) return;
        data = value;
        error = undefined;
        loading = false;
      },
      (err) => {
        if (mine !== seq) return;
        error = problemOf(err);
        loading = false;
        if (error.status === 401) session.expired();
      },
    );
  }

  $effect(() => run());

  return {
    get data() {
      return data;
    },
    get error() {
      return error;
    },
    get loading() {
      return loading;
    },
    refresh: () => untrack(run),
    set: (value: T) => {
      data = value;
    },
  };
}

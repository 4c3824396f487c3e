/**
 * The value `read` returns, caught up only after it has stayed unchanged for `ms` (a search box
 * that queries the server once typing pauses). Create it while a component initializes.
 */
export class Debounced<T> {
  current = $state() as T;

  constructor(read: () => T, ms: number) {
    this.current = read();
    $effect(() => {
      const value = read();
      const timer = setTimeout(() => (this.current = value), ms);
      return () => clearTimeout(timer);
    });
  }
}

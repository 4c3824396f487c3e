import { resource, type Resource } from "./resource.svelte";

export interface PagedResource<P, T> extends Resource<P> {
  /** The first page's items followed by those loaded with `loadMore`. */
  readonly items: T[];
  readonly hasMore: boolean;
  readonly loadingMore: boolean;
  loadMore(): Promise<void>;
}

/**
 * A cursor-paged list: the first page is a `resource` (reloaded when the reactive values
 * `fetchPage` reads change, which drops the pages loaded after it); `loadMore` appends the next.
 */
export function pagedResource<P extends { next_cursor: string | null }, T>(fetchPage: (cursor?: string) => Promise<P>, itemsOf: (page: P) => T[]): PagedResource<P, T> {
  const first = resource(() => fetchPage());
  let extra = $state.raw<T[]>([]);
  let cursor = $state<string | null>(null);
  let loadingMore = $state(false);
  const items = $derived(first.data ? [...itemsOf(first.data), ...extra] : []);

  $effect(() => {
    if (first.data) {
      extra = [];
      cursor = first.data.next_cursor;
    }
  });

  return {
    get data() {
      return first.data;
    },
    get error() {
      return first.error;
    },
    get loading() {
      return first.loading;
    },
    refresh: first.refresh,
    set: first.set,
    get items() {
      return items;
    },
    get hasMore() {
      return cursor !== null;
    },
    get loadingMore() {
      return loadingMore;
    },
    async loadMore() {
      if (!cursor) return;
      loadingMore = true;
      try {
        const page = await fetchPage(cursor);
        extra = [...extra, ...itemsOf(page)];
        cursor = page.next_cursor;
      } finally {
        loadingMore = false;
      }
    },
  };
}

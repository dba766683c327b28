// The gallery's paging/search state, independent of Tauri and of the DOM so it is unit-tested.
// It follows Svelte's store contract (`subscribe`), so components read it as `$library`.

import { writable, type Readable } from "svelte/store";
import { toCommandError, type CommandError, type Image, type ImagePage } from "./types";

/** What the store needs from the backend (the Tauri commands in production, fakes in tests). */
export interface LibraryApi {
  listImages(cursor: string | null, query: string | null): Promise<ImagePage>;
}

export interface LibraryState {
  /** Loaded images, newest first, without duplicates. */
  items: Image[];
  /** Cursor of the next page; `null` once the last page is loaded. */
  nextCursor: string | null;
  /** The search the items belong to (trimmed; `""` lists everything). */
  query: string;
  /** A first page (new search or refresh) is on its way. */
  loading: boolean;
  /** A further page is on its way. */
  loadingMore: boolean;
  /** At least one page of the current query has arrived. */
  loaded: boolean;
  /** Why the last request failed; cleared by the next success. */
  error: CommandError | null;
}

export interface Library extends Readable<LibraryState> {
  /** Lists the first page of `query` (whitespace-trimmed), replacing the items. */
  search(query: string): Promise<void>;
  /** Reloads the first page of the current query. */
  refresh(): Promise<void>;
  /** Appends the next page; does nothing on the last page or while a request is running. */
  loadMore(): Promise<void>;
  /** The current state (for tests and event handlers). */
  get(): LibraryState;
  /** Takes images out of the list (deleted, or restored out of the trash). */
  remove(ids: string[]): void;
  /** Puts images at the top (new uploads, restored) or updates them in place (renamed, tagged). */
  upsert(images: Image[]): void;
}

export const initialState: LibraryState = {
  items: [],
  nextCursor: null,
  query: "",
  loading: false,
  loadingMore: false,
  loaded: false,
  error: null,
};

/** Appends `incoming` to `items`, skipping ids already shown (pages may overlap after uploads). */
export function appendUnique(items: Image[], incoming: Image[]): Image[] {
  const seen = new Set(items.map((i) => i.id));
  const out = items.slice();
  for (const image of incoming) {
    if (!seen.has(image.id)) {
      seen.add(image.id);
      out.push(image);
    }
  }
  return out;
}

export function createLibrary(api: LibraryApi): Library {
  const store = writable<LibraryState>({ ...initialState });
  let state: LibraryState = { ...initialState };
  store.subscribe((s) => (state = s));
  // Bumped by every first-page request: answers of an older generation (a search typed over,
  // a page of the previous query) are dropped instead of mixing two result sets.
  let generation = 0;

  async function firstPage(query: string): Promise<void> {
    const mine = ++generation;
    store.update((s) => ({
      ...s,
      query,
      loading: true,
      loadingMore: false,
      ...(s.query === query ? {} : { items: [], nextCursor: null, loaded: false }),
    }));
    try {
      const page = await api.listImages(null, query === "" ? null : query);
      if (mine !== generation) return;
      store.set({
        items: appendUnique([], page.items),
        nextCursor: page.next_cursor ?? null,
        query,
        loading: false,
        loadingMore: false,
        loaded: true,
        error: null,
      });
    } catch (e) {
      if (mine !== generation) return;
      store.update((s) => ({ ...s, loading: false, error: toCommandError(e) }));
    }
  }

  return {
    subscribe: store.subscribe,
    get: () => state,
    remove(ids) {
      const gone = new Set(ids);
      store.update((s) => ({ ...s, items: s.items.filter((i) => !gone.has(i.id)) }));
    },
    upsert(images) {
      store.update((s) => {
        const byId = new Map(images.map((i) => [i.id, i]));
        const items = s.items.map((i) => byId.get(i.id) ?? i);
        const known = new Set(s.items.map((i) => i.id));
        const fresh = images.filter((i) => !known.has(i.id));
        return { ...s, items: [...fresh, ...items], loaded: true };
      });
    },
    search: (query) => firstPage(query.trim()),
    refresh: () => firstPage(state.query),
    async loadMore() {
      const { nextCursor, loading, loadingMore, query } = state;
      if (nextCursor === null || loading || loadingMore) return;
      const mine = generation;
      store.update((s) => ({ ...s, loadingMore: true }));
      try {
        const page = await api.listImages(nextCursor, query === "" ? null : query);
        if (mine !== generation) return;
        store.update((s) => ({
          ...s,
          items: appendUnique(s.items, page.items),
          nextCursor: page.next_cursor ?? null,
          loadingMore: false,
          error: null,
        }));
      } catch (e) {
        if (mine !== generation) return;
        // Keep the cursor so "Load more" retries the same page.
        store.update((s) => ({ ...s, loadingMore: false, error: toCommandError(e) }));
      }
    },
  };
}

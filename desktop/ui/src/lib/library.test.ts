import { describe, expect, it } from "vitest";
import { appendUnique, createLibrary, type LibraryApi } from "./library";
import type { CommandError, Image, ImagePage } from "./types";

function image(id: string, filename = `${id}.jpg`): Image {
  return {
    id,
    filename,
    size: 1000,
    sha256: "0".repeat(64),
    content_type: "image/jpeg",
    width: 10,
    height: 10,
    taken_at: null,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    deleted_at: null,
    tags: [],
    url: `http://cdn/i/${id}/${filename}`,
    thumb_url: `http://cdn/t/${id}/320.jpg`,
    preview_url: `http://cdn/t/${id}/1280.jpg`,
    derivatives: "ready",
  };
}

interface Call {
  cursor: string | null;
  query: string | null;
  resolve: (page: ImagePage) => void;
  reject: (error: unknown) => void;
}

/** A backend whose answers the test releases one by one, in any order. */
function manualApi(): LibraryApi & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    listImages(cursor, query) {
      return new Promise<ImagePage>((resolve, reject) => calls.push({ cursor, query, resolve, reject }));
    },
  };
}

/** A backend serving `all` (filtered by substring) in pages of `size`, cursor = next index. */
function pagedApi(all: Image[], size: number): LibraryApi & { requests: string[] } {
  const requests: string[] = [];
  return {
    requests,
    async listImages(cursor, query) {
      requests.push(`${cursor ?? "-"}|${query ?? "-"}`);
      const matching = all.filter((i) => query === null || i.filename.includes(query));
      const start = cursor === null ? 0 : Number(cursor);
      const end = start + size;
      const page: ImagePage = { items: matching.slice(start, end) };
      if (end < matching.length) page.next_cursor = String(end);
      return page;
    },
  };
}

const unreachable: CommandError = { code: "unreachable", message: "cannot reach http://127.0.0.1:9" };

describe("appendUnique", () => {
  it("keeps order and drops ids already present", () => {
    const merged = appendUnique([image("a"), image("b")], [image("b"), image("c"), image("c")]);
    expect(merged.map((i) => i.id)).toEqual(["a", "b", "c"]);
  });
});

describe("createLibrary", () => {
  it("pages through the whole library with loadMore and stops at the last page", async () => {
    const all = Array.from({ length: 7 }, (_, i) => image(`id${i}`));
    const api = pagedApi(all, 3);
    const library = createLibrary(api);

    await library.search("");
    expect(library.get().items.map((i) => i.id)).toEqual(["id0", "id1", "id2"]);
    expect(library.get().nextCursor).toBe("3");

    await library.loadMore();
    await library.loadMore();
    expect(library.get().items).toHaveLength(7);
    expect(library.get().nextCursor).toBeNull();

    await library.loadMore(); // last page: no request
    expect(api.requests).toEqual(["-|-", "3|-", "6|-"]);
  });

  it("sends a trimmed query, and no query for a blank search", async () => {
    const api = pagedApi([image("a", "cat.png"), image("b", "dog.png")], 10);
    const library = createLibrary(api);
    await library.search("  cat ");
    expect(library.get().query).toBe("cat");
    expect(library.get().items.map((i) => i.filename)).toEqual(["cat.png"]);
    await library.search("   ");
    expect(library.get().items).toHaveLength(2);
    expect(api.requests).toEqual(["-|cat", "-|-"]);
  });

  it("ignores the answer of a search that was typed over", async () => {
    const api = manualApi();
    const library = createLibrary(api);
    const first = library.search("ca");
    const second = library.search("cat");
    // The newer search answers first, then the stale one arrives.
    api.calls[1]!.resolve({ items: [image("cat")] });
    await second;
    api.calls[0]!.resolve({ items: [image("car"), image("cab")], next_cursor: "x" });
    await first;
    expect(library.get().query).toBe("cat");
    expect(library.get().items.map((i) => i.id)).toEqual(["cat"]);
    expect(library.get().nextCursor).toBeNull();
  });

  it("drops a page of the previous query that arrives after a new search", async () => {
    const api = manualApi();
    const library = createLibrary(api);
    const initial = library.search("");
    api.calls[0]!.resolve({ items: [image("a")], next_cursor: "c1" });
    await initial;

    const more = library.loadMore();
    const search = library.search("b");
    api.calls[2]!.resolve({ items: [image("b")] });
    await search;
    api.calls[1]!.resolve({ items: [image("old")], next_cursor: "c2" });
    await more;
    expect(library.get().items.map((i) => i.id)).toEqual(["b"]);
    expect(library.get().loadingMore).toBe(false);
  });

  it("does not start a second loadMore while one is running", async () => {
    const api = manualApi();
    const library = createLibrary(api);
    const initial = library.search("");
    api.calls[0]!.resolve({ items: [image("a")], next_cursor: "c1" });
    await initial;
    const more = library.loadMore();
    void library.loadMore();
    expect(api.calls).toHaveLength(2);
    api.calls[1]!.resolve({ items: [image("b")] });
    await more;
    expect(library.get().items.map((i) => i.id)).toEqual(["a", "b"]);
  });

  it("reports errors, keeps shown items and the cursor, and clears the error on success", async () => {
    const api = manualApi();
    const library = createLibrary(api);
    const initial = library.search("");
    api.calls[0]!.resolve({ items: [image("a")], next_cursor: "c1" });
    await initial;

    const failing = library.loadMore();
    api.calls[1]!.reject(unreachable);
    await failing;
    expect(library.get().error).toEqual(unreachable);
    expect(library.get().items.map((i) => i.id)).toEqual(["a"]);
    expect(library.get().nextCursor).toBe("c1");

    const retry = library.loadMore();
    expect(api.calls[2]!.cursor).toBe("c1");
    api.calls[2]!.resolve({ items: [image("b")] });
    await retry;
    expect(library.get().error).toBeNull();
    expect(library.get().items.map((i) => i.id)).toEqual(["a", "b"]);
  });

  it("turns a non-CommandError rejection into an internal error", async () => {
    const library = createLibrary({
      listImages: () => Promise.reject("command list_images not found"),
    });
    await library.search("");
    expect(library.get().error).toEqual({ code: "internal", message: "command list_images not found" });
    expect(library.get().loading).toBe(false);
    expect(library.get().loaded).toBe(false);
  });

  it("notifies subscribers of loading and loaded states", async () => {
    const api = manualApi();
    const library = createLibrary(api);
    const seen: string[] = [];
    library.subscribe((s) => seen.push(`${s.loading ? "loading" : "idle"}:${s.items.length}`));
    const done = library.search("");
    api.calls[0]!.resolve({ items: [image("a")] });
    await done;
    expect(seen).toEqual(["idle:0", "loading:0", "idle:1"]);
  });
});

describe("local edits", () => {
  it("removes, updates in place and puts new images first", async () => {
    const a = { id: "a", filename: "a.png" } as Image;
    const b = { id: "b", filename: "b.png" } as Image;
    const lib = createLibrary({ listImages: async () => ({ items: [a, b] }) });
    await lib.search("");
    lib.upsert([{ ...b, filename: "renamed.png" }, { id: "c", filename: "c.png" } as Image]);
    expect(lib.get().items.map((i) => i.filename)).toEqual(["c.png", "a.png", "renamed.png"]);
    lib.remove(["a", "c"]);
    expect(lib.get().items.map((i) => i.id)).toEqual(["b"]);
  });
});

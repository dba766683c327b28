// The upload list: one entry per file, fed by `upload-progress` events and the command's
// answer; failures keep what is needed to retry. Independent of Tauri (the API is injected).

import { writable, type Readable } from "svelte/store";
import { toCommandError, type Image, type UploadProgress, type UploadResult } from "./types";

/** What a finished batch gave: the links (chosen format) and the images, in input order. */
export interface Uploaded {
  links: string[];
  images: Image[];
}

/** What the store needs from the backend. */
export interface UploadsApi {
  uploadFiles(batch: string, paths: string[]): Promise<UploadResult[]>;
  uploadBytes(batch: string, name: string, bytes: Uint8Array): Promise<UploadResult[]>;
}

/** Where a file comes from, to retry it. */
export type UploadSource = { kind: "path"; path: string } | { kind: "bytes"; name: string; bytes: Uint8Array };

export interface UploadItem {
  /** `batch:index`. */
  key: string;
  name: string;
  status: "uploading" | "done" | "failed";
  bytesDone: number;
  bytesTotal: number;
  link?: string;
  existed?: boolean;
  error?: string;
  retryable?: boolean;
  source: UploadSource;
}

export interface UploadsState {
  items: UploadItem[];
  /** Batch-level failure (no server, not logged in…), shown above the list. */
  error: string | null;
}

export interface Uploads extends Readable<UploadsState> {
  /** Uploads dropped or picked paths (files and folders); resolves with what finished. */
  addPaths(paths: string[]): Promise<Uploaded>;
  /** Uploads pasted or picked bytes under `name`. */
  addBytes(name: string, bytes: Uint8Array): Promise<Uploaded>;
  /** Applies an `upload-progress` event. */
  progress(event: UploadProgress): void;
  retry(key: string): Promise<Uploaded>;
  /** Removes finished entries (failed ones stay until retried or dismissed). */
  clearDone(): void;
  dismiss(key: string): void;
  get(): UploadsState;
}

let counter = 0;
export function newBatchId(): string {
  counter += 1;
  return `u${Date.now().toString(36)}-${counter}`;
}

/** Last path component, for display. */
export function baseName(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

/** Share done of an item, 0…1. */
export function fraction(item: Pick<UploadItem, "status" | "bytesDone" | "bytesTotal">): number {
  if (item.status === "done") return 1;
  if (item.bytesTotal <= 0) return 0;
  return Math.min(1, item.bytesDone / item.bytesTotal);
}

const EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/gif": "gif",
  "image/webp": "webp",
  "image/bmp": "bmp",
  "image/tiff": "tiff",
};

/** Name of a pasted image: `pasted-20260102-030405.png`. */
export function pastedName(mime: string, now: Date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
  return `pasted-${stamp}.${EXTENSIONS[mime] ?? "png"}`;
}

export function createUploads(api: UploadsApi): Uploads {
  const store = writable<UploadsState>({ items: [], error: null });
  let state: UploadsState = { items: [], error: null };
  store.subscribe((s) => (state = s));
  /** Per batch: how to name and retry file `index` before its `started` event says. */
  const sources = new Map<string, (index: number, path: string) => UploadSource>();

  function upsert(key: string, change: (item: UploadItem | undefined) => UploadItem) {
    store.update((s) => {
      const i = s.items.findIndex((it) => it.key === key);
      const items = s.items.slice();
      if (i >= 0) items[i] = change(items[i]);
      else items.push(change(undefined));
      return { ...s, items };
    });
  }

  function blank(key: string, source: UploadSource, name: string): UploadItem {
    return { key, name, status: "uploading", bytesDone: 0, bytesTotal: 0, source };
  }

  function finish(batch: string, results: UploadResult[]): Uploaded {
    const sourceOf = sources.get(batch)!;
    const links: string[] = [];
    const images: Image[] = [];
    results.forEach((r, index) => {
      const key = `${batch}:${index}`;
      const source = sourceOf(index, r.path);
      upsert(key, (old) => {
        const base = old ?? blank(key, source, baseName(r.path));
        if (r.error) {
          return { ...base, status: "failed", error: r.error.message, retryable: r.error.retryable, source };
        }
        if (r.link) links.push(r.link);
        if (r.image) images.push(r.image);
        return { ...base, status: "done", link: r.link, existed: r.existed, bytesDone: base.bytesTotal, source };
      });
    });
    sources.delete(batch);
    return { links, images };
  }

  async function run(batch: string, start: () => Promise<UploadResult[]>, pending: UploadItem[]): Promise<Uploaded> {
    store.update((s) => ({ ...s, error: null, items: [...s.items, ...pending] }));
    try {
      return finish(batch, await start());
    } catch (e) {
      const err = toCommandError(e);
      sources.delete(batch);
      store.update((s) => ({
        error: err.message,
        items: s.items.map((it) =>
          it.key.startsWith(`${batch}:`) && it.status === "uploading"
            ? { ...it, status: "failed", error: err.message, retryable: true }
            : it,
        ),
      }));
      return { links: [], images: [] };
    }
  }

  function addPaths(paths: string[]): Promise<Uploaded> {
    const batch = newBatchId();
    // A folder expands to many files: entries appear with their `started` events. A single
    // file is listed at once.
    sources.set(batch, (index, path) => ({ kind: "path", path: path || paths[index] || "" }));
    const pending =
      paths.length === 1 ? [blank(`${batch}:0`, { kind: "path", path: paths[0]! }, baseName(paths[0]!))] : [];
    return run(batch, () => api.uploadFiles(batch, paths), pending);
  }

  function addBytes(name: string, bytes: Uint8Array): Promise<Uploaded> {
    const batch = newBatchId();
    const source: UploadSource = { kind: "bytes", name, bytes };
    sources.set(batch, () => source);
    const pending = [{ ...blank(`${batch}:0`, source, name), bytesTotal: bytes.length }];
    return run(batch, () => api.uploadBytes(batch, name, bytes), pending);
  }

  return {
    subscribe: store.subscribe,
    get: () => state,
    addPaths,
    addBytes,
    progress(event) {
      const key = `${event.batch}:${event.index}`;
      const sourceOf = sources.get(event.batch);
      if (!sourceOf && !state.items.some((it) => it.key === key)) return; // an old batch
      switch (event.kind) {
        case "started":
          upsert(key, (old) => ({
            ...(old ?? blank(key, sourceOf!(event.index, event.path), baseName(event.path))),
            bytesTotal: event.bytes,
          }));
          break;
        case "progress":
          upsert(key, (old) => ({
            ...(old ?? blank(key, sourceOf!(event.index, ""), "")),
            bytesDone: event.bytes_done,
            bytesTotal: event.bytes_total,
          }));
          break;
        case "finished":
          upsert(key, (old) => ({
            ...(old ?? blank(key, sourceOf!(event.index, ""), "")),
            status: "done",
            link: event.link,
            existed: event.existed,
            bytesDone: old?.bytesTotal ?? 0,
          }));
          break;
        case "failed":
          upsert(key, (old) => ({
            ...(old ?? blank(key, sourceOf!(event.index, event.path), baseName(event.path))),
            status: "failed",
            error: event.error,
          }));
          break;
      }
    },
    retry(key) {
      const item = state.items.find((it) => it.key === key);
      if (!item || item.status !== "failed") return Promise.resolve({ links: [], images: [] });
      store.update((s) => ({ ...s, items: s.items.filter((it) => it.key !== key) }));
      return item.source.kind === "path"
        ? addPaths([item.source.path])
        : addBytes(item.source.name, item.source.bytes);
    },
    clearDone() {
      store.update((s) => ({ ...s, items: s.items.filter((it) => it.status !== "done") }));
    },
    dismiss(key) {
      store.update((s) => ({ ...s, items: s.items.filter((it) => it.key !== key) }));
    },
  };
}

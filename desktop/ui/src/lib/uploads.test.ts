import { describe, expect, it } from "vitest";
import { baseName, createUploads, fraction, pastedName, type UploadsApi } from "./uploads";
import type { Image, UploadResult } from "./types";

const image = { id: "x", url: "http://cdn/i/x/a.png" } as Image;

/** A backend whose answers the test decides, recording calls. */
function fakeApi(answer: (paths: string[]) => UploadResult[] | Error) {
  const calls: string[][] = [];
  const api: UploadsApi = {
    async uploadFiles(_batch, paths) {
      calls.push(paths);
      const a = answer(paths);
      if (a instanceof Error) throw { code: "not_configured", message: a.message };
      return a;
    },
    async uploadBytes(_batch, name) {
      calls.push([name]);
      const a = answer([name]);
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return { api, calls };
}

describe("uploads", () => {
  it("lists a file, follows its progress, and ends with its link", async () => {
    const { api } = fakeApi(() => [{ path: "/p/a.png", image, link: "LINK-A", existed: false }]);
    const uploads = createUploads(api);
    let batch = "";
    const originalUpload = api.uploadFiles;
    api.uploadFiles = async (b, paths) => {
      batch = b;
      uploads.progress({ kind: "started", batch: b, index: 0, path: "/p/a.png", bytes: 200 });
      uploads.progress({ kind: "progress", batch: b, index: 0, bytes_done: 50, bytes_total: 200 });
      expect(fraction(uploads.get().items[0]!)).toBe(0.25);
      return originalUpload(b, paths);
    };
    const done = await uploads.addPaths(["/p/a.png"]);
    expect(done).toEqual({ links: ["LINK-A"], images: [image] });
    const [item] = uploads.get().items;
    expect(item).toMatchObject({ key: `${batch}:0`, name: "a.png", status: "done", link: "LINK-A" });
    expect(fraction(item!)).toBe(1);
    uploads.clearDone();
    expect(uploads.get().items).toEqual([]);
  });

  it("keeps failures with their reason and retries just the failed file", async () => {
    let fail = true;
    const { api, calls } = fakeApi((paths) =>
      paths.length === 2
        ? [
            { path: "/d/ok.png", image, link: "L1", existed: false },
            { path: "/d/bad.png", existed: false, error: { code: "network", message: "cannot reach", retryable: true } },
          ]
        : fail
          ? new Error("x")
          : [{ path: "/d/bad.png", image, link: "L2", existed: false }],
    );
    const uploads = createUploads(api);
    expect((await uploads.addPaths(["/d/ok.png", "/d/bad.png"])).links).toEqual(["L1"]);
    const failed = uploads.get().items.find((i) => i.status === "failed")!;
    expect(failed).toMatchObject({ name: "bad.png", error: "cannot reach", retryable: true });
    fail = false;
    expect((await uploads.retry(failed.key)).links).toEqual(["L2"]);
    expect(calls[calls.length - 1]).toEqual(["/d/bad.png"]);
    expect(uploads.get().items.every((i) => i.status === "done")).toBe(true);
  });

  it("marks the batch failed when the command itself fails", async () => {
    const { api } = fakeApi(() => new Error("no server configured"));
    const uploads = createUploads(api);
    expect(await uploads.addPaths(["/a.png"])).toEqual({ links: [], images: [] });
    expect(uploads.get().error).toBe("no server configured");
    expect(uploads.get().items[0]).toMatchObject({ status: "failed", retryable: true });
  });

  it("retries pasted bytes with the same bytes", async () => {
    let n = 0;
    const { api, calls } = fakeApi(() =>
      n++ === 0
        ? [{ path: "p.png", existed: false, error: { code: "server", message: "500", retryable: true } }]
        : [{ path: "p.png", image, link: "LP", existed: false }],
    );
    const uploads = createUploads(api);
    await uploads.addBytes("p.png", new Uint8Array([1, 2, 3]));
    const key = uploads.get().items[0]!.key;
    expect((await uploads.retry(key)).links).toEqual(["LP"]);
    expect(calls).toEqual([["p.png"], ["p.png"]]);
  });

  it("ignores events of batches it does not know", () => {
    const uploads = createUploads(fakeApi(() => []).api);
    uploads.progress({ kind: "started", batch: "other", index: 0, path: "/x", bytes: 1 });
    expect(uploads.get().items).toEqual([]);
  });
});

describe("names", () => {
  it("names pasted images by time and type", () => {
    expect(pastedName("image/jpeg", new Date(2026, 0, 2, 3, 4, 5))).toBe("pasted-20260102-030405.jpg");
    expect(pastedName("image/x-unknown", new Date(2026, 0, 2, 3, 4, 5))).toMatch(/\.png$/);
    expect(baseName("/a/b/c.png")).toBe("c.png");
    expect(baseName("C:\\x\\y.jpg")).toBe("y.jpg");
  });
});

import { describe, expect, it } from "vitest";
import fixture from "./wire-fixture.json";
import {
  isCommandError,
  parseImage,
  parseConnected,
  parseImagePage,
  parsePhotoInfo,
  parseShare,
  parseAlbum,
  parseServerInfo,
  parseSettings,
  parseUploadProgress,
  parseUploadResults,
  parseQueue,
  parseSyncStatus,
  toCommandError,
  WireError,
} from "./types";

// `wire-fixture.json` is written and checked by the Rust test `wire_fixture` in the desktop
// crate: parsing it strictly proves these types match what the commands really send.
const strict = { strict: true };

describe("wire types match the Rust serialisation", () => {
  it("parses a page with every Image field, nulls included", () => {
    const page = parseImagePage(fixture.image_page, strict);
    expect(page.items).toHaveLength(2);
    expect(page.next_cursor).toBe("opaque-cursor-1");
    const [full, bare] = page.items;
    expect(full!.tags).toEqual(["holiday", "beach"]);
    expect(typeof full!.taken_at).toBe("string");
    expect(bare!.taken_at).toBeNull();
    expect(bare!.deleted_at).toBeNull();
    expect(Date.parse(full!.created_at)).not.toBeNaN();
    // Not yet made by the cloud: no ThumbHash, no error.
    expect(full!.derivatives).toBe("pending");
    expect(full!.thumbhash).toBeUndefined();
    expect(full!.derivatives_error).toBeUndefined();
  });

  it("parses albums, with and without a cover", () => {
    const album = parseAlbum(fixture.album, strict);
    expect([album.name, album.image_count, album.cover_image_id]).toEqual(["Trip", 2, "a1B2c3D4e5F6g7H8"]);
    expect(parseAlbum(fixture.album_bare, strict).cover_image_id).toBeUndefined();
    expect(() => parseAlbum({ ...fixture.album, image_count: "2" })).toThrow();
  });

  it("parses share links, full and bare", () => {
    const share = parseShare(fixture.share, strict);
    expect(share.url).toContain("/s/");
    expect([share.views, share.visitors, share.max_views, share.state]).toEqual([3, 2, 10, "active"]);
    expect(share.has_password).toBe(true);
    const bare = parseShare(fixture.share_bare, strict);
    expect(bare.expires_at).toBeNull();
    expect(bare.state).toBe("revoked");
    expect(() => parseShare({ ...fixture.share, state: "gone" })).toThrow();
  });

  it("parses the last page, which has no cursor", () => {
    const page = parseImagePage(fixture.last_page, strict);
    expect(page).toEqual({ items: [] });
  });

  it("parses server info with and without a server", () => {
    expect(parseServerInfo(fixture.server_info, strict).server).toBe("http://127.0.0.1:8420");
    expect(parseServerInfo(fixture.server_info_unconfigured, strict).server).toBeNull();
  });

  it("parses photo info, with and without camera and date", () => {
    expect(parsePhotoInfo(fixture.photo_info, strict)).toEqual({ taken_at: "2019-06-30T07:08:09Z", camera: "OLYMPUS E-M5" });
    expect(parsePhotoInfo(fixture.photo_info_none, strict)).toEqual({ taken_at: null, camera: null });
    expect(() => parsePhotoInfo({ taken_at: 3, camera: null })).toThrow();
  });

  it("parses settings, with and without a template", () => {
    expect(parseSettings(fixture.settings, strict).link_template).toBe("![{name}]({url})");
    const bare = parseSettings(fixture.settings_bare, strict);
    expect(bare.server).toBeNull();
    expect(bare.logged_in).toBe(false);
  });

  it("parses the connect answer with and without a warning", () => {
    expect(parseConnected(fixture.connected, strict).warning).toBe("no OS keyring");
    const keyring = parseConnected(fixture.connected_keyring, strict);
    expect(keyring.warning).toBeUndefined();
    expect(keyring.settings.link_format).toBe("url");
  });

  it("parses every kind of upload progress", () => {
    const kinds = fixture.upload_progress.map((p) => parseUploadProgress(p, strict).kind);
    expect(kinds).toEqual(["started", "progress", "finished", "failed"]);
  });

  it("parses upload results, finished and failed", () => {
    const [done, failed] = parseUploadResults(fixture.upload_results, strict);
    expect(done!.image!.filename).toBe("diagram.png");
    expect(done!.existed).toBe(true);
    expect(failed!.error).toEqual({ code: "not_an_image", message: "/p/b.png is not an image", retryable: false });
    expect(failed!.image).toBeUndefined();
  });

  it("parses the sync daemon's status, full and bare", () => {
    const status = parseSyncStatus(fixture.sync_status, strict);
    expect(status.folders.map((f) => f.path)).toEqual(["/home/u/Pictures/Screenshots", "/home/u/Photos"]);
    expect(status.folders[0]!.include).toEqual(["*.png"]);
    expect(status.folders[1]!.album).toBeUndefined();
    expect(status.counts.retrying).toBe(7);
    expect(status.recent_errors[0]!.permanent).toBe(false);
    const bare = parseSyncStatus(fixture.sync_status_bare, strict);
    expect(bare.last_scan_at).toBeNull();
    expect(bare.folders).toEqual([]);
  });

  it("parses the sync queue", () => {
    const queue = parseQueue(fixture.sync_queue, strict);
    expect(queue.map((q) => q.state)).toEqual(["uploading", "backed_up"]);
    expect(queue[1]!.image_id).toBe("a1B2c3D4e5F6g7H8");
  });

  it("knows every error code the Rust side can send", () => {
    for (const error of fixture.command_errors) expect(isCommandError(error)).toBe(true);
  });
});

describe("parsers reject what they do not understand", () => {
  const image = fixture.image_page.items[0]!;

  it("names a missing field", () => {
    const { url: _url, ...noUrl } = image;
    expect(() => parseImage(noUrl)).toThrow(new WireError("image.url", "missing"));
  });

  it("names a field of the wrong type, deep in a page", () => {
    const page = { items: [image, { ...image, size: "big" }] };
    expect(() => parseImagePage(page)).toThrow(/page\.items\[1\]\.size: expected number/);
  });

  it("accepts unknown fields leniently but not strictly", () => {
    const extra = { ...image, colour: "red" };
    expect(parseImage(extra).id).toBe(image.id);
    expect(() => parseImage(extra, strict)).toThrow(/image\.colour: unknown field/);
  });

  it("reads the derivatives' state, its error and the ThumbHash", () => {
    const broken = parseImage(
      { ...image, derivatives: "broken", derivatives_error: "not a PNG: bad header" },
      strict,
    );
    expect(broken.derivatives).toBe("broken");
    expect(broken.derivatives_error).toBe("not a PNG: bad header");
    const ready = parseImage({ ...image, derivatives: "ready", thumbhash: "1QcSHQRnh493V4dIh4eXh1h4kJUI" }, strict);
    expect(ready.thumbhash).toBe("1QcSHQRnh493V4dIh4eXh1h4kJUI");
    for (const state of ["pending", "ready", "failed", "broken"]) {
      expect(parseImage({ ...image, derivatives: state }, strict).derivatives).toBe(state);
    }
  });

  it("reads a missing state (older servers) as pending", () => {
    const { derivatives: _d, ...old } = image;
    expect(parseImage(old, strict).derivatives).toBe("pending");
  });

  it("rejects an unknown state and a non-string ThumbHash", () => {
    expect(() => parseImage({ ...image, derivatives: "done" })).toThrow(/image\.derivatives: expected/);
    expect(() => parseImage({ ...image, derivatives: null })).toThrow(/image\.derivatives/);
    expect(() => parseImage({ ...image, thumbhash: 3 })).toThrow(/image\.thumbhash/);
  });

  it("rejects a non-string cursor", () => {
    expect(() => parseImagePage({ items: [], next_cursor: 3 })).toThrow(/next_cursor/);
  });
});

describe("toCommandError", () => {
  it("keeps a CommandError and wraps anything else as internal", () => {
    const err = { code: "unreachable", message: "down" };
    expect(toCommandError(err)).toBe(err);
    expect(toCommandError({ code: "teapot", message: "x" }).code).toBe("internal");
    expect(toCommandError(new Error("boom"))).toEqual({ code: "internal", message: "boom" });
    expect(toCommandError("nope")).toEqual({ code: "internal", message: "nope" });
    expect(toCommandError(new WireError("page", "expected an object")).message).toContain("page: expected");
  });
});

import { describe, expect, it } from "vitest";
import { rgbaToThumbHash, thumbHashToRGBA } from "thumbhash";
import { createPlaceholderCache, decodeThumbHash, placeholderUrl } from "./placeholder";

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

/** A `w`×`h` image: a horizontal gradient from `from` to `to`, alpha `alpha` (0..255). */
function gradient(w: number, h: number, from: number[], to: number[], alpha = 255): Uint8Array {
  const rgba = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = w > 1 ? x / (w - 1) : 0;
      const i = (y * w + x) * 4;
      for (let c = 0; c < 3; c++) rgba[i + c] = Math.round(from[c]! + (to[c]! - from[c]!) * t);
      rgba[i + 3] = x === 0 ? alpha : 255;
    }
  }
  return rgba;
}

/** A real ThumbHash, base64 as the server sends it. */
const hashOf = (w: number, h: number, from = [200, 30, 30], to = [30, 30, 200], alpha = 255) =>
  toBase64(rgbaToThumbHash(w, h, gradient(w, h, from, to, alpha)));

/** Decodes a `data:image/png;base64,` URL back to its bytes. */
function png(url: string): Uint8Array {
  const prefix = "data:image/png;base64,";
  expect(url.startsWith(prefix)).toBe(true);
  return Uint8Array.from(atob(url.slice(prefix.length)), (c) => c.charCodeAt(0));
}

describe("decodeThumbHash", () => {
  it("accepts what the encoder makes, any shape, with and without alpha", () => {
    for (const [w, h] of [[8, 8], [16, 4], [4, 16], [1, 1], [100, 3], [3, 100], [33, 17]] as const) {
      for (const alpha of [255, 0]) {
        const bytes = rgbaToThumbHash(w, h, gradient(w, h, [10, 200, 90], [250, 250, 0], alpha));
        expect(bytes.length).toBeLessThanOrEqual(25);
        const decoded = decodeThumbHash(toBase64(bytes));
        expect(decoded, `${w}x${h} alpha ${alpha}`).toEqual(bytes);
      }
    }
  });

  it("accepts base64 without padding", () => {
    const hash = hashOf(8, 8, [200, 30, 30], [30, 30, 200], 0); // 25 bytes: "=="
    expect(hash.endsWith("==")).toBe(true);
    expect(decodeThumbHash(hash.replace(/=+$/, ""))).toEqual(decodeThumbHash(hash));
  });

  it("rejects garbage instead of throwing", () => {
    const good = hashOf(8, 8);
    const bytes = decodeThumbHash(good)!;
    for (const bad of [
      undefined,
      null,
      "",
      "not base64!",
      "@@@@",
      "A",
      "AAAA", // 3 bytes: shorter than the header
      toBase64(new Uint8Array(30)), // longer than any ThumbHash
      toBase64(new Uint8Array(24)), // a header announcing no luminance size
      good.slice(0, -4), // truncated
      toBase64(new Uint8Array([...bytes, 0])), // one byte too many
      `${good}=`,
      "ZZZZ=ZZZ",
    ]) {
      expect(() => decodeThumbHash(bad), String(bad)).not.toThrow();
      expect(decodeThumbHash(bad), String(bad)).toBeNull();
    }
  });

  it("never throws on random bytes, and renders whatever it accepts", () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    const cache = createPlaceholderCache(8);
    for (let i = 0; i < 300; i++) {
      const bytes = Uint8Array.from({ length: i % 31 }, random);
      const url = cache.url(toBase64(bytes));
      if (url !== null) expect(url).toMatch(/^data:image\/png;base64,/);
    }
  });
});

describe("placeholder data URLs", () => {
  it("renders a real ThumbHash to a small PNG that keeps its colours", () => {
    const hash = hashOf(16, 16, [220, 20, 20], [220, 20, 20]);
    const url = createPlaceholderCache().url(hash);
    expect(url).not.toBeNull();
    const bytes = png(url!);
    expect([...bytes.slice(1, 4)].map((c) => String.fromCharCode(c)).join("")).toBe("PNG");
    // The rendered pixels are red, as the image was.
    const { rgba } = thumbHashToRGBA(decodeThumbHash(hash)!);
    expect(rgba[0]).toBeGreaterThan(150);
    expect(rgba[2]).toBeLessThan(80);
  });

  it("follows the aspect ratio of the original", () => {
    const width = (url: string) => {
      const b = png(url);
      return [(b[16]! << 24) | (b[17]! << 16) | (b[18]! << 8) | b[19]!, (b[20]! << 24) | (b[21]! << 16) | (b[22]! << 8) | b[23]!];
    };
    const cache = createPlaceholderCache();
    const [w, h] = width(cache.url(hashOf(40, 10))!);
    expect(w).toBeGreaterThan(h!);
    const [w2, h2] = width(cache.url(hashOf(10, 40))!);
    expect(h2).toBeGreaterThan(w2!);
  });

  it("gives null for a missing or garbage hash", () => {
    const cache = createPlaceholderCache();
    expect(cache.url(undefined)).toBeNull();
    expect(cache.url(null)).toBeNull();
    expect(cache.url("")).toBeNull();
    expect(cache.url("!!not a thumbhash!!")).toBeNull();
    expect(cache.url(toBase64(new Uint8Array([1, 2, 3, 4, 5, 6, 7])))).toBeNull();
    expect(placeholderUrl("%%%")).toBeNull();
  });

  it("returns the same string for the same hash without decoding again", () => {
    const cache = createPlaceholderCache();
    const hash = hashOf(12, 9);
    const first = cache.url(hash);
    expect(first).toMatch(/^data:image\/png;base64,/);
    expect(cache.url(hash)).toBe(first);
    expect(cache.size).toBe(1);
    expect(placeholderUrl(hash)).toBe(first);
    expect(placeholderUrl(hash)).toBe(placeholderUrl(hash));
  });

  it("stays bounded, evicting the least recently used", () => {
    const cache = createPlaceholderCache(3);
    const hashes = [0, 1, 2, 3, 4].map((i) => hashOf(8, 8, [i * 50, 0, 0], [0, 0, 255 - i * 50]));
    expect(new Set(hashes).size).toBe(5);
    const [a, b, c, d, e] = hashes as [string, string, string, string, string];
    const urlA = cache.url(a);
    cache.url(b);
    cache.url(c);
    expect(cache.url(a)).toBe(urlA); // a is now the most recent: b goes first
    cache.url(d);
    expect(cache.size).toBe(3);
    expect([a, b, c, d].map((h) => cache.has(h))).toEqual([true, false, true, true]);
    cache.url(e);
    expect(cache.size).toBe(3);
    expect([a, c, d, e].map((h) => cache.has(h))).toEqual([true, false, true, true]);
    for (let i = 0; i < 50; i++) cache.url(`garbage${i}`);
    expect(cache.size).toBe(3);
    cache.clear();
    expect(cache.size).toBe(0);
  });
});

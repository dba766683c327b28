// ThumbHash placeholders (https://evanw.github.io/thumbhash/): the gallery draws one under each
// tile until the cloud-made thumbnail has loaded. Decoding renders a ~32 px PNG data URL, cheap
// but not free, and a virtualized grid mounts the same tiles again and again: so the URLs are
// memoized per hash in a small LRU cache. A hash that does not decode gives null (no
// placeholder), never an exception.
import { thumbHashToDataURL } from "thumbhash";

/** A ThumbHash is at most 25 bytes (with alpha), at least its 5-byte header. */
const MAX_BYTES = 25;
const MIN_BYTES = 5;
/** Standard base64, padding optional. */
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Number of AC coefficients of an `nx`×`ny` channel, as the encoder writes them. */
function acCount(nx: number, ny: number): number {
  let n = 0;
  for (let cy = 0; cy < ny; cy++) for (let cx = cy ? 0 : 1; cx * ny < nx * (ny - cy); cx++) n++;
  return n;
}

/**
 * The bytes of a base64 ThumbHash, or null unless it is one: standard base64 of a header whose
 * sizes are possible and exactly as many coefficient bytes as that header announces.
 */
export function decodeThumbHash(base64: string | null | undefined): Uint8Array | null {
  if (typeof base64 !== "string" || base64.length > 40 || !BASE64.test(base64)) return null;
  const digits = base64.replace(/=+$/, "");
  if (digits.length % 4 === 1 || (base64 !== digits && base64.length % 4 !== 0)) return null;
  let binary: string;
  try {
    binary = atob(digits.padEnd(Math.ceil(digits.length / 4) * 4, "="));
  } catch {
    return null;
  }
  if (binary.length < MIN_BYTES || binary.length > MAX_BYTES) return null;
  const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  const hasAlpha = (bytes[2]! & 0x80) !== 0;
  const isLandscape = (bytes[4]! & 0x80) !== 0;
  // The encoder stores the shorter side's luminance count (1..7, ≤ 5 with alpha).
  const short = bytes[3]! & 7;
  const long = hasAlpha ? 5 : 7;
  if (short < 1 || short > long) return null;
  const lx = Math.max(3, isLandscape ? long : short);
  const ly = Math.max(3, isLandscape ? short : long);
  const ac = acCount(lx, ly) + 2 * acCount(3, 3) + (hasAlpha ? acCount(5, 5) : 0);
  const expected = (hasAlpha ? 6 : 5) + Math.ceil(ac / 2);
  return bytes.length === expected ? bytes : null;
}

export interface PlaceholderCache {
  /** The PNG data URL of `thumbhash`, or null when there is none or it does not decode. */
  url(thumbhash: string | null | undefined): string | null;
  /** Whether `thumbhash` is cached (does not count as a use). */
  has(thumbhash: string): boolean;
  /** Entries held (never more than the limit). */
  readonly size: number;
  clear(): void;
}

/** A cache of at most `limit` data URLs, least recently used evicted first. */
export function createPlaceholderCache(limit = 300): PlaceholderCache {
  const entries = new Map<string, string | null>();
  return {
    url(thumbhash) {
      if (typeof thumbhash !== "string" || thumbhash === "") return null;
      const cached = entries.get(thumbhash);
      if (cached !== undefined) {
        // Map iteration order is insertion order: re-insert to mark as recently used.
        entries.delete(thumbhash);
        entries.set(thumbhash, cached);
        return cached;
      }
      let url: string | null = null;
      const bytes = decodeThumbHash(thumbhash);
      if (bytes) {
        try {
          url = thumbHashToDataURL(bytes);
        } catch {
          url = null;
        }
      }
      entries.set(thumbhash, url);
      while (entries.size > limit) entries.delete(entries.keys().next().value!);
      return url;
    },
    has(thumbhash) {
      return entries.has(thumbhash);
    },
    get size() {
      return entries.size;
    },
    clear() {
      entries.clear();
    },
  };
}

const shared = createPlaceholderCache();

/** The placeholder data URL of an image's ThumbHash (shared cache), or null. */
export const placeholderUrl = (thumbhash: string | null | undefined): string | null => shared.url(thumbhash);

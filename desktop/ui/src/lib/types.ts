// Wire types of the Tauri commands, mirroring the Rust side:
// `Image` / `ImagePage` are `imgcloud_core::api` types, `CommandError` and `ServerInfo` live in
// the desktop crate. `wire-fixture.json` is written by the Rust test
// `wire_fixture::fixture_matches_rust_serialization` (desktop/src/wire_fixture.rs); `types.test.ts` parses it strictly with the
// schemas below, so a field added, removed or retyped on either side fails one of the two tests.

/** An image in the user's library (`imgcloud_core::api::Image`). Times are RFC 3339. */
export interface Image {
  id: string;
  filename: string;
  size: number;
  sha256: string;
  content_type: string;
  width: number;
  height: number;
  taken_at: string | null;
  created_at: string;
  updated_at: string;
  deleted_at: string | null;
  tags: string[];
  /** `public`: permanent CDN links; `private`: signed links that expire (no public link).
   * Older servers omit it (read as "public"). */
  visibility?: Visibility;
  url: string;
  /** Made by the cloud on its first request, so it may take a moment (never, when `broken`). */
  thumb_url: string;
  preview_url: string;
  /** Standard base64 of a ThumbHash (≤ 25 bytes) to draw until the thumbnail has loaded;
   * absent until the cloud has made the thumbnail. */
  thumbhash?: string | null;
  /** Where the cloud's derivatives stand; older servers omit it (read as "pending"). */
  derivatives: DerivativeState;
  /** Why the last attempt to make them failed (`failed` and `broken` only). */
  derivatives_error?: string | null;
}

/** `imgcloud_core::api::Visibility`. */
export type Visibility = "public" | "private";

export const visibilities: readonly Visibility[] = ["public", "private"];

/** An album (`imgcloud_core::api::Album`). */
export interface Album {
  id: string;
  name: string;
  description: string;
  cover_image_id?: string | null;
  image_count: number;
  created_at: string;
  updated_at: string;
}

/** A share link as its owner sees it (`imgcloud_core::api::Share`). */
export interface Share {
  id: string;
  /** `https://…/s/{token}`: the link to send. */
  url: string;
  label: string;
  album_id?: string | null;
  image_ids: string[];
  state: ShareState;
  created_at: string;
  /** null: never expires. */
  expires_at: string | null;
  has_password: boolean;
  max_views?: number | null;
  /** Page views, without link-preview bots and the owner. */
  views: number;
  visitors: number;
  last_viewed_at: string | null;
  allow_download: boolean;
  with_metadata: boolean;
  revoked_at: string | null;
}

export type ShareState = "active" | "expired" | "exhausted" | "revoked";

export const shareStates: readonly ShareState[] = ["active", "expired", "exhausted", "revoked"];

/** The share dialog's fields (`desktop/src/sharing.rs` `ShareOptions`). */
export interface ShareOptions {
  /** `12h`, `7d`, `2027-01-31`, `never`; empty: the account's default (30 days). */
  expires: string;
  password: string;
  max_views: number | null;
  no_download: boolean;
  with_metadata: boolean;
  label: string;
}

/** `imgcloud_core::api::DerivativeState`: `failed` is retried, `broken` never will be. */
export type DerivativeState = "pending" | "ready" | "failed" | "broken";

export const derivativeStates: readonly DerivativeState[] = ["pending", "ready", "failed", "broken"];

/** One page of `list_images`, newest first. `next_cursor` is absent on the last page. */
export interface ImagePage {
  items: Image[];
  next_cursor?: string;
}

/** Stable codes of `CommandError` (Rust `error::ErrorCode`). */
export type ErrorCode =
  | "not_configured"
  | "not_logged_in"
  | "unreachable"
  | "unauthorized"
  | "not_found"
  | "invalid"
  | "server"
  | "daemon_not_running"
  | "daemon"
  | "embedded"
  | "clipboard"
  | "config"
  | "internal";

/** Every failed command rejects with this (Rust `error::CommandError`). */
export interface CommandError {
  code: ErrorCode;
  message: string;
}

/** `server_info`: which server the app talks to and where its settings live. */
export interface ServerInfo {
  server: string | null;
  config_file: string;
}

/** `photo_info`: camera and date taken from the original's EXIF (`imgcloud_core::photo_info`). */
export interface PhotoInfo {
  taken_at: string | null;
  camera: string | null;
}

/** `settings_get` (Rust `settings::Settings`). */
export interface Settings {
  server: string | null;
  embedded: boolean;
  hosting_embedded: boolean;
  logged_in: boolean;
  link_format: string;
  link_template?: string | null;
  config_file: string;
}

/** `settings_connect` (Rust `settings::Connected`); `warning` when the token went to a file. */
export interface Connected {
  settings: Settings;
  username: string;
  warning?: string | null;
}

/** One step of one file of an upload batch (`upload-progress` event, Rust `upload::UploadProgress`). */
export type UploadProgress =
  | { kind: "started"; batch: string; index: number; path: string; bytes: number }
  | { kind: "progress"; batch: string; index: number; bytes_done: number; bytes_total: number }
  | { kind: "finished"; batch: string; index: number; link: string; existed: boolean }
  | { kind: "failed"; batch: string; index: number; path: string; error: string };

/** Why a file did not upload (Rust `upload::UploadFailure`). */
export interface UploadFailure {
  code: string;
  message: string;
  retryable: boolean;
}

/** The outcome of one file of `upload_files` / `upload_bytes` (Rust `upload::UploadResult`). */
export interface UploadResult {
  path: string;
  image?: Image;
  link?: string;
  existed: boolean;
  error?: UploadFailure;
}

/** A folder the sync daemon watches (`imgcloud_core::daemon_api::WatchedFolder`). */
export interface WatchedFolder {
  path: string;
  recursive: boolean;
  album?: string | null;
  /** Visibility of the folder's uploads; absent: the account's default. */
  visibility?: Visibility | null;
  include?: string[];
  exclude?: string[];
}

/** Files per state of the daemon's queue. */
export interface QueueCounts {
  discovered: number;
  hashed: number;
  uploading: number;
  uploaded: number;
  backed_up: number;
  failed: number;
  retrying: number;
}

export interface InFlight {
  path: string;
  bytes_done: number;
  bytes_total: number;
}

export interface FileError {
  path: string;
  code: string;
  message: string;
  attempts: number;
  permanent: boolean;
  next_attempt_at: string | null;
  at: string;
}

/** `sync_status` (`imgcloud_core::daemon_api::Status`). */
export interface SyncStatus {
  version: string;
  pid: number;
  server: string;
  embedded: boolean;
  online: boolean;
  paused: boolean;
  folders: WatchedFolder[];
  counts: QueueCounts;
  in_flight: InFlight[];
  recent_errors: FileError[];
  watch_warning: string | null;
  last_scan_at: string | null;
  backup_dir: string | null;
}

/** One row of `sync_queue` (`imgcloud_core::daemon_api::QueueEntry`). */
export interface QueueEntry {
  path: string;
  state: string;
  size: number;
  attempts: number;
  last_error: string | null;
  next_attempt_at: string | null;
  image_id: string | null;
  url: string | null;
}

/** A JSON value does not have the expected shape; `path` says where. */
export class WireError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = "WireError";
  }
}

type Kind =
  | "string"
  | "string?"
  | "number"
  | "boolean"
  | "string[]"
  | "string[]?"
  | "derivatives?"
  | "visibility?"
  | "number?"
  | "share_state";
type Schema<T> = { [K in keyof T]-?: Kind };

const imageSchema = {
  id: "string",
  filename: "string",
  size: "number",
  sha256: "string",
  content_type: "string",
  width: "number",
  height: "number",
  taken_at: "string?",
  created_at: "string",
  updated_at: "string",
  deleted_at: "string?",
  tags: "string[]",
  visibility: "visibility?",
  url: "string",
  thumb_url: "string",
  preview_url: "string",
  thumbhash: "string?",
  derivatives: "derivatives?",
  derivatives_error: "string?",
} as const satisfies Schema<Image>;

const albumSchema = {
  id: "string",
  name: "string",
  description: "string",
  cover_image_id: "string?",
  image_count: "number",
  created_at: "string",
  updated_at: "string",
} as const satisfies Schema<Album>;

const shareSchema = {
  id: "string",
  url: "string",
  label: "string",
  album_id: "string?",
  image_ids: "string[]",
  state: "share_state",
  created_at: "string",
  expires_at: "string?",
  has_password: "boolean",
  max_views: "number?",
  views: "number",
  visitors: "number",
  last_viewed_at: "string?",
  allow_download: "boolean",
  with_metadata: "boolean",
  revoked_at: "string?",
} as const satisfies Schema<Share>;

const serverInfoSchema = {
  server: "string?",
  config_file: "string",
} as const satisfies Schema<ServerInfo>;

const photoInfoSchema = {
  taken_at: "string?",
  camera: "string?",
} as const satisfies Schema<PhotoInfo>;

const settingsSchema = {
  server: "string?",
  embedded: "boolean",
  hosting_embedded: "boolean",
  logged_in: "boolean",
  link_format: "string",
  link_template: "string?",
  config_file: "string",
} as const satisfies Schema<Settings>;

const failureSchema = {
  code: "string",
  message: "string",
  retryable: "boolean",
} as const satisfies Schema<UploadFailure>;

const progressSchemas = {
  started: { kind: "string", batch: "string", index: "number", path: "string", bytes: "number" },
  progress: { kind: "string", batch: "string", index: "number", bytes_done: "number", bytes_total: "number" },
  finished: { kind: "string", batch: "string", index: "number", link: "string", existed: "boolean" },
  failed: { kind: "string", batch: "string", index: "number", path: "string", error: "string" },
} as const;

const folderSchema = {
  path: "string",
  recursive: "boolean",
  album: "string?",
  visibility: "visibility?",
  include: "string[]?",
  exclude: "string[]?",
} as const satisfies Schema<WatchedFolder>;

const countsSchema = {
  discovered: "number",
  hashed: "number",
  uploading: "number",
  uploaded: "number",
  backed_up: "number",
  failed: "number",
  retrying: "number",
} as const satisfies Schema<QueueCounts>;

const inFlightSchema = { path: "string", bytes_done: "number", bytes_total: "number" } as const satisfies Schema<InFlight>;

const fileErrorSchema = {
  path: "string",
  code: "string",
  message: "string",
  attempts: "number",
  permanent: "boolean",
  next_attempt_at: "string?",
  at: "string",
} as const satisfies Schema<FileError>;

const queueEntrySchema = {
  path: "string",
  state: "string",
  size: "number",
  attempts: "number",
  last_error: "string?",
  next_attempt_at: "string?",
  image_id: "string?",
  url: "string?",
} as const satisfies Schema<QueueEntry>;

const errorCodes: readonly ErrorCode[] = [
  "not_configured",
  "not_logged_in",
  "unreachable",
  "unauthorized",
  "not_found",
  "invalid",
  "server",
  "daemon_not_running",
  "daemon",
  "embedded",
  "clipboard",
  "config",
  "internal",
];

/** Options of the parsers: `strict` also rejects keys the schema does not know (tests). */
export interface ParseOptions {
  strict?: boolean;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkKind(value: unknown, kind: Kind, path: string): void {
  const ok = (() => {
    switch (kind) {
      case "string":
        return typeof value === "string";
      case "string?":
        return value === null || value === undefined || typeof value === "string";
      case "number":
        return typeof value === "number" && Number.isFinite(value);
      case "boolean":
        return typeof value === "boolean";
      case "string[]":
        return Array.isArray(value) && value.every((v) => typeof v === "string");
      case "string[]?":
        return value === undefined || (Array.isArray(value) && value.every((v) => typeof v === "string"));
      case "derivatives?":
        return value === undefined || (derivativeStates as readonly unknown[]).includes(value);
      case "number?":
        return value === undefined || value === null || typeof value === "number";
      case "share_state":
        return (shareStates as readonly unknown[]).includes(value);
      case "visibility?":
        return value === undefined || value === null || (visibilities as readonly unknown[]).includes(value);
    }
  })();
  if (!ok) throw new WireError(path, `expected ${kind}, got ${JSON.stringify(value)}`);
}

function parseObject<T>(value: unknown, schema: Schema<T>, path: string, options: ParseOptions): T {
  if (!isObject(value)) throw new WireError(path, "expected an object");
  for (const [key, kind] of Object.entries(schema) as [string, Kind][]) {
    if (!(key in value) && !kind.endsWith("?")) {
      throw new WireError(`${path}.${key}`, "missing");
    }
    checkKind(value[key], kind, `${path}.${key}`);
  }
  if (options.strict) {
    for (const key of Object.keys(value)) {
      if (!(key in schema)) throw new WireError(`${path}.${key}`, "unknown field");
    }
  }
  return value as T;
}

export function parseImage(value: unknown, options: ParseOptions = {}, path = "image"): Image {
  const image = parseObject<Image>(value, imageSchema, path, options);
  // `taken_at`/`deleted_at` are always present (null when unset) on the wire; normalise.
  image.taken_at ??= null;
  image.deleted_at ??= null;
  // Servers from before cloud-made derivatives do not send the state.
  image.derivatives ??= "pending";
  return image;
}

export function parseAlbum(value: unknown, options: ParseOptions = {}, path = "album"): Album {
  return parseObject<Album>(value, albumSchema, path, options);
}

export function parseAlbums(value: unknown, options: ParseOptions = {}): Album[] {
  return parseList(value, "albums", (v, p) => parseAlbum(v, options, p));
}

export function parseShare(value: unknown, options: ParseOptions = {}, path = "share"): Share {
  const share = parseObject<Share>(value, shareSchema, path, options);
  share.expires_at ??= null;
  share.last_viewed_at ??= null;
  share.revoked_at ??= null;
  return share;
}

export function parseShares(value: unknown, options: ParseOptions = {}): Share[] {
  return parseList(value, "shares", (v, p) => parseShare(v, options, p));
}

export function parseImagePage(value: unknown, options: ParseOptions = {}): ImagePage {
  const path = "page";
  if (!isObject(value)) throw new WireError(path, "expected an object");
  if (!Array.isArray(value.items)) throw new WireError(`${path}.items`, "expected an array");
  const items = value.items.map((item, i) => parseImage(item, options, `${path}.items[${i}]`));
  const cursor = value.next_cursor;
  if (cursor !== undefined && typeof cursor !== "string") {
    throw new WireError(`${path}.next_cursor`, "expected a string or no field");
  }
  if (options.strict) {
    for (const key of Object.keys(value)) {
      if (key !== "items" && key !== "next_cursor") {
        throw new WireError(`${path}.${key}`, "unknown field");
      }
    }
  }
  return cursor === undefined ? { items } : { items, next_cursor: cursor };
}

export function parsePhotoInfo(value: unknown, options: ParseOptions = {}): PhotoInfo {
  const info = parseObject<PhotoInfo>(value, photoInfoSchema, "photo_info", options);
  info.taken_at ??= null;
  info.camera ??= null;
  return info;
}

export function parseServerInfo(value: unknown, options: ParseOptions = {}): ServerInfo {
  const info = parseObject<ServerInfo>(value, serverInfoSchema, "server_info", options);
  info.server ??= null;
  return info;
}

/** Whether `value` is a `CommandError` as the Rust side serialises it. */
export function isCommandError(value: unknown): value is CommandError {
  return (
    isObject(value) &&
    typeof value.message === "string" &&
    typeof value.code === "string" &&
    (errorCodes as readonly string[]).includes(value.code)
  );
}

/**
 * Turns whatever a rejected `invoke` gave into a `CommandError`: our commands reject with one,
 * but Tauri itself rejects with a string (e.g. an unknown command) and a bug may throw an Error.
 */
export function toCommandError(value: unknown): CommandError {
  if (isCommandError(value)) return value;
  if (value instanceof WireError) {
    return { code: "internal", message: `unexpected answer from the app (${value.message})` };
  }
  if (value instanceof Error) return { code: "internal", message: value.message };
  if (typeof value === "string") return { code: "internal", message: value };
  return { code: "internal", message: `unexpected error: ${JSON.stringify(value)}` };
}

export function parseSettings(value: unknown, options: ParseOptions = {}, path = "settings"): Settings {
  const settings = parseObject<Settings>(value, settingsSchema, path, options);
  settings.server ??= null;
  return settings;
}

export function parseConnected(value: unknown, options: ParseOptions = {}): Connected {
  const path = "connected";
  if (!isObject(value)) throw new WireError(path, "expected an object");
  const { settings, ...rest } = value;
  const top = parseObject<Omit<Connected, "settings">>(
    rest,
    { username: "string", warning: "string?" },
    path,
    options,
  );
  return { ...top, settings: parseSettings(settings, options, `${path}.settings`) };
}

export function parseUploadProgress(value: unknown, options: ParseOptions = {}): UploadProgress {
  const path = "upload_progress";
  if (!isObject(value)) throw new WireError(path, "expected an object");
  const kind = value.kind;
  if (typeof kind !== "string" || !(kind in progressSchemas)) {
    throw new WireError(`${path}.kind`, `unknown kind ${JSON.stringify(kind)}`);
  }
  const schema = progressSchemas[kind as keyof typeof progressSchemas];
  return parseObject<UploadProgress>(value, schema as never, path, options);
}

export function parseUploadResult(value: unknown, options: ParseOptions = {}, path = "upload_result"): UploadResult {
  if (!isObject(value)) throw new WireError(path, "expected an object");
  const { image, error, ...rest } = value;
  const result = parseObject<Omit<UploadResult, "image" | "error">>(
    rest,
    { path: "string", link: "string?", existed: "boolean" },
    path,
    options,
  ) as UploadResult;
  if (image !== undefined && image !== null) result.image = parseImage(image, options, `${path}.image`);
  if (error !== undefined && error !== null) {
    result.error = parseObject<UploadFailure>(error, failureSchema, `${path}.error`, options);
  }
  if (!result.image && !result.error) throw new WireError(path, "neither an image nor an error");
  return result;
}

export function parseUploadResults(value: unknown, options: ParseOptions = {}): UploadResult[] {
  if (!Array.isArray(value)) throw new WireError("upload_results", "expected an array");
  return value.map((v, i) => parseUploadResult(v, options, `upload_results[${i}]`));
}

/** An array of strings (links). */
export function parseStrings(value: unknown, path = "links"): string[] {
  checkKind(value, "string[]", path);
  return value as string[];
}

function parseList<T>(value: unknown, path: string, item: (v: unknown, path: string) => T): T[] {
  if (!Array.isArray(value)) throw new WireError(path, "expected an array");
  return value.map((v, i) => item(v, `${path}[${i}]`));
}

export function parseWatchedFolders(value: unknown, options: ParseOptions = {}, path = "folders"): WatchedFolder[] {
  return parseList(value, path, (v, p) => parseObject<WatchedFolder>(v, folderSchema, p, options));
}

export function parseSyncStatus(value: unknown, options: ParseOptions = {}): SyncStatus {
  const path = "sync_status";
  if (!isObject(value)) throw new WireError(path, "expected an object");
  const { folders, counts, in_flight, recent_errors, ...rest } = value;
  const top = parseObject<Omit<SyncStatus, "folders" | "counts" | "in_flight" | "recent_errors">>(
    rest,
    {
      version: "string",
      pid: "number",
      server: "string",
      embedded: "boolean",
      online: "boolean",
      paused: "boolean",
      watch_warning: "string?",
      last_scan_at: "string?",
      backup_dir: "string?",
    },
    path,
    options,
  );
  return {
    ...top,
    watch_warning: top.watch_warning ?? null,
    last_scan_at: top.last_scan_at ?? null,
    backup_dir: top.backup_dir ?? null,
    folders: parseWatchedFolders(folders, options, `${path}.folders`),
    counts: parseObject<QueueCounts>(counts, countsSchema, `${path}.counts`, options),
    in_flight: parseList(in_flight, `${path}.in_flight`, (v, p) => parseObject<InFlight>(v, inFlightSchema, p, options)),
    recent_errors: parseList(recent_errors, `${path}.recent_errors`, (v, p) =>
      parseObject<FileError>(v, fileErrorSchema, p, options),
    ),
  };
}

export function parseQueue(value: unknown, options: ParseOptions = {}): QueueEntry[] {
  return parseList(value, "sync_queue", (v, p) => parseObject<QueueEntry>(v, queueEntrySchema, p, options));
}

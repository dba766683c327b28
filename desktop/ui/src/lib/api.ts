// The Tauri commands, typed. Answers are checked at this boundary (`parse*`), so the UI never
// renders a half-understood value.

import { invoke } from "@tauri-apps/api/core";
import type { LibraryApi } from "./library";
import type { UploadsApi } from "./uploads";
import {
  parseConnected,
  parseImage,
  parseImagePage,
  parsePhotoInfo,
  parseServerInfo,
  parseSettings,
  parseShare,
  parseShares,
  parseAlbum,
  parseAlbums,
  parseStrings,
  parseUploadResults,
  parseQueue,
  parseSyncStatus,
  parseWatchedFolders,
  toCommandError,
  type Connected,
  type Image,
  type ImagePage,
  type ServerInfo,
  type Settings,
  type Album,
  type Share,
  type ShareOptions,
  type Visibility,
} from "./types";

async function call<T>(cmd: string, args: unknown, parse: (v: unknown) => T, options?: { headers: Record<string, string> }): Promise<T> {
  let answer: unknown;
  try {
    answer = await invoke(cmd, args as Record<string, unknown>, options);
  } catch (e) {
    throw toCommandError(e);
  }
  try {
    return parse(answer);
  } catch (e) {
    throw toCommandError(e);
  }
}

const images = (v: unknown): Image[] => {
  if (!Array.isArray(v)) throw toCommandError(`expected a list of images, got ${JSON.stringify(v)}`);
  return v.map((i) => parseImage(i));
};
const nothing = () => undefined;

export function listImages(cursor: string | null, query: string | null, trash = false): Promise<ImagePage> {
  return call("list_images", { cursor, query, trash }, (v) => parseImagePage(v));
}

export const tauriLibrary: LibraryApi = { listImages: (c, q) => listImages(c, q, false) };
export const tauriTrash: LibraryApi = { listImages: (c, q) => listImages(c, q, true) };

export function serverInfo(): Promise<ServerInfo> {
  return call("server_info", {}, (v) => parseServerInfo(v));
}

export const getImage = (id: string) => call("get_image", { id }, (v) => parseImage(v));
export const setVisibility = (id: string, visibility: Visibility) =>
  call("set_visibility", { id, visibility }, (v) => parseImage(v));
export const createShare = (imageIds: string[], options: ShareOptions, albumId: string | null = null): Promise<Share> =>
  call("create_share", { imageIds, albumId, options }, (v) => parseShare(v));
export const listAlbums = (): Promise<Album[]> => call("list_albums", {}, (v) => parseAlbums(v));
export const albumImages = (id: string): Promise<Image[]> => call("album_images", { id }, images);
export const addToAlbum = (name: string, imageIds: string[]): Promise<Album> =>
  call("add_to_album", { name, imageIds }, (v) => parseAlbum(v));
/** A gallery source for one album: its images in one page, filtered by the search here. */
export function albumLibrary(id: string): LibraryApi {
  return {
    listImages: async (_cursor, query) => {
      const all = await albumImages(id);
      const needle = (query ?? "").toLowerCase();
      const items = needle
        ? all.filter((i) => i.filename.toLowerCase().includes(needle) || i.tags.some((t) => t.toLowerCase().includes(needle)))
        : all;
      return { items };
    },
  };
}
export const listShares = (): Promise<Share[]> => call("list_shares", {}, (v) => parseShares(v));
export const revokeShare = (id: string): Promise<Share> => call("revoke_share", { id }, (v) => parseShare(v));
export const renameImage = (id: string, filename: string) =>
  call("rename_image", { id, filename }, (v) => parseImage(v));
export const setTags = (id: string, tags: string[]) => call("set_tags", { id, tags }, (v) => parseImage(v));
export const trashImages = (ids: string[]) => call("trash_images", { ids }, images);
export const restoreImages = (ids: string[]) => call("restore_images", { ids }, images);

/** Camera and date taken from the original's first bytes (cached on disk by the app). */
export const photoInfo = (url: string) => call("photo_info", { url }, (v) => parsePhotoInfo(v));

/** The link of an image already at hand, in `format` (default: the configured one). */
export const formatLink = (image: Image, format?: string, template?: string) =>
  call("format_image_link", { image, format: format ?? null, template: template ?? null }, (v) => parseStrings([v])[0]!);

/** Opens an image's link (http/https) in the default browser. */
export const openUrl = (url: string) => call("open_url", { url }, nothing);
export const copyText = (text: string) => call("copy_text", { text }, nothing);
/** A native notification (best effort: `false` when the desktop has none). */
export const notify = (summary: string, body: string) => call("notify", { summary, body }, (v) => v === true);

export const tauriUploads: UploadsApi = {
  uploadFiles: (batch, paths) => call("upload_files", { batch, paths }, (v) => parseUploadResults(v)),
  uploadBytes: (batch, name, bytes) =>
    call("upload_bytes", bytes, (v) => parseUploadResults(v), {
      headers: { "x-filename": encodeURIComponent(name), "x-filename-encoding": "uri", "x-batch": batch },
    }),
};

/** Uploads the image on the system clipboard (when the webview's paste event carries none). */
export const uploadClipboardImage = () => call("upload_clipboard_image", {}, (v) => parseUploadResults([v])[0]!);

export const settingsGet = () => call("settings_get", {}, (v) => parseSettings(v));
export const settingsConnect = (server: string, username: string, password: string): Promise<Connected> =>
  call("settings_connect", { server, username, password }, (v) => parseConnected(v));
export const settingsUseEmbedded = (): Promise<Settings> => call("settings_use_embedded", {}, (v) => parseSettings(v));
export const settingsSetLinkFormat = (format: string, template: string | null) =>
  call("settings_set_link_format", { format, template }, nothing);

export const syncStatus = () => call("sync_status", {}, (v) => parseSyncStatus(v));
export const syncQueue = (limit = 200) => call("sync_queue", { limit }, (v) => parseQueue(v));
export const syncPause = () => call("sync_pause", {}, (v) => parseSyncStatus(v));
export const syncResume = () => call("sync_resume", {}, (v) => parseSyncStatus(v));
/** The native folder picker: the chosen folder's path, or null when cancelled. */
export const pickFolder = () =>
  call("pick_folder", {}, (v) => (v === null ? null : parseStrings([v], "folder")[0]!));
export const watchAdd = (path: string) => call("watch_add", { path }, (v) => parseWatchedFolders(v));
export const watchRemove = (path: string) => call("watch_remove", { path }, (v) => parseWatchedFolders(v));
export const syncSubscribe = () => call("sync_subscribe", {}, (v) => v === true);

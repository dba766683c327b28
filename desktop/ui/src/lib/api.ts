// The Tauri commands, typed. Answers are checked at this boundary (`parse*`), so the UI never
// renders a half-understood value.

import { invoke } from "@tauri-apps/api/core";
import type { LibraryApi } from "./library";
import { parseImagePage, parseServerInfo, toCommandError, type ImagePage, type ServerInfo } from "./types";

async function call<T>(cmd: string, args: Record<string, unknown>, parse: (v: unknown) => T): Promise<T> {
  let answer: unknown;
  try {
    answer = await invoke(cmd, args);
  } catch (e) {
    throw toCommandError(e);
  }
  try {
    return parse(answer);
  } catch (e) {
    throw toCommandError(e);
  }
}

export const tauriLibrary: LibraryApi = {
  listImages(cursor: string | null, query: string | null): Promise<ImagePage> {
    return call("list_images", { cursor, query }, (v) => parseImagePage(v));
  },
};

export function serverInfo(): Promise<ServerInfo> {
  return call("server_info", {}, (v) => parseServerInfo(v));
}

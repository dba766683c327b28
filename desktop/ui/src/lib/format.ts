// Small display helpers for the gallery.

import type { CommandError, Image } from "./types";

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** `1536` → `"1.5 KB"` (binary multiples, one decimal under 10, none above). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "?";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  const digits = value < 10 ? 1 : 0;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** `"1920×1080"`, or `""` when the size is unknown. */
export function formatDimensions(image: Pick<Image, "width" | "height">): string {
  return image.width > 0 && image.height > 0 ? `${image.width}×${image.height}` : "";
}

/** Tooltip of a tile: name, dimensions, size. */
export function describeImage(image: Image): string {
  return [image.filename, formatDimensions(image), formatBytes(image.size)].filter(Boolean).join(" · ");
}

export interface ErrorHelp {
  title: string;
  /** What the user can do about it. */
  hint: string;
}

/** A headline and a next step for each error code; `error.message` carries the details. */
export function errorHelp(error: CommandError): ErrorHelp {
  switch (error.code) {
    case "not_configured":
      return {
        title: "No imgcloud server configured",
        hint: "Open Settings to connect to a server or use the local cloud (or run `imgcloud login <server-url>`), then retry.",
      };
    case "not_logged_in":
      return {
        title: "Not logged in",
        hint: "Log in from Settings (or run `imgcloud login`, or set IMGCLOUD_TOKEN), then retry.",
      };
    case "unreachable":
      return {
        title: "The server is unreachable",
        hint: "Check that the server is running and the address is right, then retry.",
      };
    case "unauthorized":
      return {
        title: "The server refused your token",
        hint: "Log in again from Settings (or with `imgcloud login`), then retry.",
      };
    case "not_found":
      return { title: "Not found", hint: "It may have been deleted elsewhere; refresh the gallery." };
    case "invalid":
      return { title: "That was not accepted", hint: "Check what you typed and try again." };
    case "daemon_not_running":
      return { title: "The sync daemon is not running", hint: "Start it with `imgcloudd` (or `systemctl --user start imgcloudd`)." };
    case "daemon":
      return { title: "The sync daemon reported an error", hint: "Retry; if it persists, check the daemon log." };
    case "embedded":
      return { title: "The local cloud could not start", hint: "Another program may use its ports; see the details." };
    case "clipboard":
      return { title: "The clipboard is not available", hint: "Copy the link from the detail panel by hand." };
    case "config":
      return { title: "The configuration cannot be read", hint: "Fix the file named below, then retry." };
    case "server":
      return { title: "The server answered with an error", hint: "Retry; if it persists, check the server log." };
    case "internal":
      return { title: "Something went wrong in the app", hint: "Retry; if it persists, please report it." };
  }
}

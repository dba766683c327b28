// The virtualized gallery's layout: images grouped by day become a flat list of rows (a date
// header, then rows of tiles), each with its y offset, so only the rows in view are rendered.
// Pure functions of (items, width, scroll position): unit-tested without a DOM.

import type { Image } from "./types";

export interface GridMetrics {
  /** Side of a square tile, px. */
  tile: number;
  /** Gap between tiles and rows, px. */
  gap: number;
  /** Height of a date header row, px. */
  header: number;
}

export const defaultMetrics: GridMetrics = { tile: 168, gap: 8, header: 36 };

export type Row =
  | { kind: "header"; key: string; label: string; y: number; height: number }
  | { kind: "tiles"; key: string; start: number; items: Image[]; y: number; height: number };

export interface Layout {
  rows: Row[];
  columns: number;
  height: number;
  /** Row index of each item (by position in the flat list). */
  rowOfItem: number[];
}

/** Tiles that fit in `width` (at least one). */
export function columnsFor(width: number, m: GridMetrics = defaultMetrics): number {
  return Math.max(1, Math.floor((width + m.gap) / (m.tile + m.gap)));
}

/** The local calendar day of an RFC 3339 time, as `YYYY-MM-DD`. */
export function dayKey(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "unknown";
  const mm = String(d.getMonth() + 1).padStart(2, "0");
  const dd = String(d.getDate()).padStart(2, "0");
  return `${d.getFullYear()}-${mm}-${dd}`;
}

const WEEKDAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** "Today", "Yesterday", or e.g. "Mon, 3 Nov 2026" (same year: "Mon, 3 Nov"). */
export function dayLabel(key: string, now: Date = new Date()): string {
  if (key === "unknown") return "Unknown date";
  if (key === dayKey(now.toISOString())) return "Today";
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (key === dayKey(yesterday.toISOString())) return "Yesterday";
  const [y, m, d] = key.split("-").map(Number) as [number, number, number];
  const weekday = WEEKDAYS[new Date(y, m - 1, d).getDay()];
  const label = `${weekday}, ${d} ${MONTHS[m - 1]}`;
  return y === now.getFullYear() ? label : `${label} ${y}`;
}

export interface DayGroup {
  key: string;
  label: string;
  /** Index of the group's first item in the flat list. */
  start: number;
  items: Image[];
}

/**
 * Consecutive images of the same day: when taken, else when uploaded (the day the local
 * catalog orders by; the list is newest first, so days are too).
 */
export function groupByDay(items: Image[], now: Date = new Date()): DayGroup[] {
  const groups: DayGroup[] = [];
  items.forEach((image, index) => {
    const key = dayKey(image.taken_at ?? image.created_at);
    const last = groups[groups.length - 1];
    if (last && last.key === key) last.items.push(image);
    else groups.push({ key, label: dayLabel(key, now), start: index, items: [image] });
  });
  return groups;
}

/** Rows of the whole gallery for a container `width` px wide. */
export function layout(items: Image[], width: number, m: GridMetrics = defaultMetrics, now?: Date): Layout {
  const columns = columnsFor(width, m);
  const rows: Row[] = [];
  const rowOfItem: number[] = new Array(items.length);
  let y = 0;
  for (const group of groupByDay(items, now)) {
    rows.push({ kind: "header", key: `h-${group.key}`, label: group.label, y, height: m.header });
    y += m.header;
    for (let i = 0; i < group.items.length; i += columns) {
      const start = group.start + i;
      const slice = group.items.slice(i, i + columns);
      for (let k = 0; k < slice.length; k++) rowOfItem[start + k] = rows.length;
      rows.push({ kind: "tiles", key: `r-${start}`, start, items: slice, y, height: m.tile });
      y += m.tile + m.gap;
    }
  }
  return { rows, columns, height: y, rowOfItem };
}

/** First row whose bottom edge is below `y` (binary search over the sorted offsets). */
function firstRowBelow(rows: Row[], y: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const row = rows[mid]!;
    if (row.y + row.height <= y) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The rows to render for a viewport at `scrollTop` of `height` px, plus `overscan` px each side. */
export function visibleRange(
  rows: Row[],
  scrollTop: number,
  height: number,
  overscan = 400,
): { start: number; end: number } {
  const top = Math.max(0, scrollTop - overscan);
  const bottom = scrollTop + height + overscan;
  const start = firstRowBelow(rows, top);
  let end = start;
  while (end < rows.length && rows[end]!.y < bottom) end++;
  return { start, end };
}

/** The scrollTop that brings `row` fully into a viewport of `height` px (unchanged if it is). */
export function scrollToShow(row: Row, scrollTop: number, height: number, margin = 8): number {
  if (row.y - margin < scrollTop) return Math.max(0, row.y - margin);
  if (row.y + row.height + margin > scrollTop + height) return row.y + row.height + margin - height;
  return scrollTop;
}

/** Whether the viewport is within `rowsLeft` tile rows of the end (time to load the next page). */
export function nearEnd(layoutHeight: number, scrollTop: number, height: number, m: GridMetrics = defaultMetrics, rowsLeft = 3): boolean {
  return scrollTop + height >= layoutHeight - rowsLeft * (m.tile + m.gap);
}

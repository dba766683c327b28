import { describe, expect, it } from "vitest";
import { columnsFor, dayKey, dayLabel, groupByDay, layout, nearEnd, scrollToShow, visibleRange, type GridMetrics } from "./grid";
import type { Image } from "./types";

const m: GridMetrics = { tile: 100, gap: 10, header: 30 };

function image(id: number, createdAt: string): Image {
  return {
    id: `id${id}`,
    filename: `f${id}.png`,
    size: 1,
    sha256: "",
    content_type: "image/png",
    width: 1,
    height: 1,
    taken_at: null,
    created_at: createdAt,
    updated_at: createdAt,
    deleted_at: null,
    tags: [],
    url: "",
    thumb_url: "",
    preview_url: "",
    derivatives: "ready",
  };
}

/** `n` images per day for `days` days, newest first, at local noon. */
function library(days: number, n: number): Image[] {
  const out: Image[] = [];
  for (let d = 0; d < days; d++) {
    for (let i = 0; i < n; i++) out.push(image(d * n + i, new Date(2026, 10, 20 - d, 12, 0, 59 - i).toISOString()));
  }
  return out;
}

describe("grouping by day", () => {
  it("keeps consecutive images of one local day together, in order", () => {
    const groups = groupByDay(library(3, 4), new Date(2026, 10, 20, 18));
    expect(groups.map((g) => g.label)).toEqual(["Today", "Yesterday", "Wed, 18 Nov"]);
    expect(groups.map((g) => g.start)).toEqual([0, 4, 8]);
    expect(groups.every((g) => g.items.length === 4)).toBe(true);
  });

  it("groups a photo by the day it was taken, else the day it was uploaded", () => {
    const taken = { ...image(1, new Date(2026, 10, 20, 12).toISOString()), taken_at: new Date(2026, 6, 4, 9).toISOString() };
    const uploaded = image(2, new Date(2026, 10, 20, 11).toISOString());
    const groups = groupByDay([uploaded, taken], new Date(2026, 10, 20, 18));
    expect(groups.map((g) => g.label)).toEqual(["Today", "Sat, 4 Jul"]);
    expect(groups[1].items).toEqual([taken]);
  });

  it("shows the year of other years and survives bad dates", () => {
    expect(dayLabel("2024-02-29", new Date(2026, 0, 1))).toBe("Thu, 29 Feb 2024");
    expect(dayKey("not a date")).toBe("unknown");
    expect(dayLabel("unknown")).toBe("Unknown date");
  });
});

describe("layout and virtualization window", () => {
  it("fits as many columns as the width allows, at least one", () => {
    expect(columnsFor(100, m)).toBe(1);
    expect(columnsFor(209, m)).toBe(1);
    expect(columnsFor(210, m)).toBe(2);
    expect(columnsFor(10, m)).toBe(1);
  });

  it("lays out headers and rows with increasing offsets", () => {
    const items = library(2, 5);
    const l = layout(items, 330, m, new Date(2026, 10, 20)); // 3 columns
    expect(l.columns).toBe(3);
    expect(l.rows.map((r) => r.kind)).toEqual(["header", "tiles", "tiles", "header", "tiles", "tiles"]);
    expect(l.rows.map((r) => r.y)).toEqual([0, 30, 140, 250, 280, 390]);
    expect(l.height).toBe(500);
    expect(l.rowOfItem[4]).toBe(2);
    expect(l.rowOfItem[5]).toBe(4);
    const tiles = l.rows.filter((r) => r.kind === "tiles");
    expect(tiles.flatMap((r) => r.items.map((i) => i.id))).toEqual(items.map((i) => i.id));
  });

  it("renders a window bounded by the viewport, not the library", () => {
    const items = library(100, 100); // 10,000 images
    const l = layout(items, 1100, m);
    const middle = l.height / 2;
    const { start, end } = visibleRange(l.rows, middle, 800, 0);
    const shown = l.rows.slice(start, end);
    expect(shown[0]!.y).toBeLessThanOrEqual(middle);
    const last = shown[shown.length - 1]!;
    expect(last.y + last.height + m.gap).toBeGreaterThanOrEqual(middle + 800);
    const tiles = shown.reduce((n, r) => n + (r.kind === "tiles" ? r.items.length : 0), 0);
    expect(tiles).toBeLessThanOrEqual(10 * Math.ceil(800 / 110 + 2));
    // Overscan adds rows on both sides.
    const wider = visibleRange(l.rows, middle, 800, 300);
    expect(wider.start).toBeLessThan(start);
    expect(wider.end).toBeGreaterThan(end);
  });

  it("handles the top, the end and an empty library", () => {
    const l = layout(library(1, 3), 1000, m);
    expect(visibleRange(l.rows, 0, 500, 0)).toEqual({ start: 0, end: 2 });
    expect(visibleRange(l.rows, 10_000, 500, 0)).toEqual({ start: 2, end: 2 });
    expect(layout([], 500, m).rows).toEqual([]);
  });

  it("scrolls just enough to show a row", () => {
    const row = { kind: "header" as const, key: "h", label: "", y: 1000, height: 100 };
    expect(scrollToShow(row, 0, 500, 0)).toBe(600);
    expect(scrollToShow(row, 2000, 500, 0)).toBe(1000);
    expect(scrollToShow(row, 800, 500, 0)).toBe(800);
  });

  it("asks for the next page near the end only", () => {
    expect(nearEnd(10_000, 0, 800, m)).toBe(false);
    expect(nearEnd(10_000, 9_000, 800, m)).toBe(true);
  });
});

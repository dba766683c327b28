import { describe, expect, it } from "vitest";
import { click, emptySelection, moveCursor, navigate, orderedSelection, prune } from "./selection";

const ids = ["a", "b", "c", "d", "e", "f", "g"];

describe("selection", () => {
  it("selects one on a plain click, toggles with Ctrl, ranges with Shift", () => {
    let s = click(emptySelection(), ids, 1);
    expect([...s.ids]).toEqual(["b"]);
    s = click(s, ids, 3, { toggle: true });
    expect([...s.ids].sort()).toEqual(["b", "d"]);
    s = click(s, ids, 3, { toggle: true });
    expect([...s.ids]).toEqual(["b"]);
    s = click(click(emptySelection(), ids, 4), ids, 2, { range: true });
    expect(orderedSelection(s, ids)).toEqual(["c", "d", "e"]);
    expect(s.anchor).toBe(4);
  });

  it("keeps the gallery order for batch copy whatever the click order", () => {
    let s = click(emptySelection(), ids, 5);
    s = click(s, ids, 0, { toggle: true });
    s = click(s, ids, 2, { toggle: true });
    expect(orderedSelection(s, ids)).toEqual(["a", "c", "f"]);
  });

  it("drops ids that left the list", () => {
    const s = prune(click(click(emptySelection(), ids, 0), ids, 6, { range: true }), ["a", "c"]);
    expect([...s.ids].sort()).toEqual(["a", "c"]);
    expect(s.cursor).toBe(1);
  });
});

describe("keyboard navigation", () => {
  it("moves in a grid and stays inside it", () => {
    expect(moveCursor(-1, "ArrowRight", 3, 7)).toBe(0);
    expect(moveCursor(0, "ArrowRight", 3, 7)).toBe(1);
    expect(moveCursor(0, "ArrowLeft", 3, 7)).toBe(0);
    expect(moveCursor(1, "ArrowDown", 3, 7)).toBe(4);
    expect(moveCursor(5, "ArrowDown", 3, 7)).toBe(6);
    expect(moveCursor(4, "ArrowUp", 3, 7)).toBe(1);
    expect(moveCursor(2, "End", 3, 7)).toBe(6);
    expect(moveCursor(6, "Home", 3, 7)).toBe(0);
    expect(moveCursor(0, "PageDown", 3, 7)).toBe(6);
    expect(moveCursor(3, "x", 3, 7)).toBe(3);
    expect(moveCursor(3, "ArrowUp", 3, 0)).toBe(-1);
  });

  it("selects what the cursor lands on; Shift extends", () => {
    let s = navigate(emptySelection(), ids, "ArrowRight", 3);
    expect([...s.ids]).toEqual(["a"]);
    s = navigate(s, ids, "ArrowDown", 3, true);
    expect(orderedSelection(s, ids)).toEqual(["a", "b", "c", "d"]);
    s = navigate(s, ids, "ArrowRight", 3);
    expect([...s.ids]).toEqual(["e"]);
  });
});

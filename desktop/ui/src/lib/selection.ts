// Multi-selection and keyboard navigation over the gallery's flat list of images.

export interface Selection {
  /** Selected ids. */
  ids: Set<string>;
  /** Index the keyboard cursor is on (and the anchor of shift-ranges), or -1. */
  cursor: number;
  anchor: number;
}

export const emptySelection = (): Selection => ({ ids: new Set(), cursor: -1, anchor: -1 });

export interface ClickMods {
  /** Ctrl (Cmd on macOS): toggle one. */
  toggle?: boolean;
  /** Shift: range from the anchor. */
  range?: boolean;
}

/** The selection after clicking the item at `index` of `ids` (the gallery's order). */
export function click(sel: Selection, ids: string[], index: number, mods: ClickMods = {}): Selection {
  const id = ids[index];
  if (id === undefined) return sel;
  if (mods.range && sel.anchor >= 0) {
    const [a, b] = sel.anchor <= index ? [sel.anchor, index] : [index, sel.anchor];
    const next = mods.toggle ? new Set(sel.ids) : new Set<string>();
    for (let i = a; i <= b; i++) next.add(ids[i]!);
    return { ids: next, cursor: index, anchor: sel.anchor };
  }
  if (mods.toggle) {
    const next = new Set(sel.ids);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return { ids: next, cursor: index, anchor: index };
  }
  return { ids: new Set([id]), cursor: index, anchor: index };
}

/** Where the cursor goes for a navigation key in a grid of `columns` over `count` items. */
export function moveCursor(cursor: number, key: string, columns: number, count: number, pageRows = 4): number {
  if (count === 0) return -1;
  if (cursor < 0) return 0;
  const clamp = (i: number) => Math.min(count - 1, Math.max(0, i));
  switch (key) {
    case "ArrowRight":
      return clamp(cursor + 1);
    case "ArrowLeft":
      return clamp(cursor - 1);
    case "ArrowDown":
      return clamp(cursor + columns);
    case "ArrowUp":
      return clamp(cursor - columns);
    case "PageDown":
      return clamp(cursor + columns * pageRows);
    case "PageUp":
      return clamp(cursor - columns * pageRows);
    case "Home":
      return 0;
    case "End":
      return count - 1;
    default:
      return cursor;
  }
}

/** The selection after a navigation key: the cursor moves and selects (Shift extends). */
export function navigate(sel: Selection, ids: string[], key: string, columns: number, shift = false): Selection {
  const cursor = moveCursor(sel.cursor, key, columns, ids.length);
  if (cursor < 0) return sel;
  return click(sel, ids, cursor, { range: shift });
}

/** Ids of the selection in gallery order (for batch copy, so links keep the visible order). */
export function orderedSelection(sel: Selection, ids: string[]): string[] {
  return ids.filter((id) => sel.ids.has(id));
}

/** Drops ids no longer present (after a delete or a new search). */
export function prune(sel: Selection, ids: string[]): Selection {
  const present = new Set(ids);
  const next = new Set([...sel.ids].filter((id) => present.has(id)));
  const cursor = Math.min(sel.cursor, ids.length - 1);
  return { ids: next, cursor, anchor: Math.min(sel.anchor, ids.length - 1) };
}

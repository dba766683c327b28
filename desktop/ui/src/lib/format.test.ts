import { describe, expect, it } from "vitest";
import { describeImage, errorHelp, formatBytes, formatDimensions } from "./format";
import fixture from "./wire-fixture.json";
import type { ErrorCode, Image } from "./types";

describe("formatBytes", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KB"],
    [1536, "1.5 KB"],
    [10 * 1024, "10 KB"],
    [5 * 1024 * 1024 + 300 * 1024, "5.3 MB"],
    [3 * 1024 ** 4, "3.0 TB"],
    [-1, "?"],
    [Number.NaN, "?"],
  ])("%d → %s", (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
});

describe("formatDimensions", () => {
  it("shows width×height, nothing when unknown", () => {
    expect(formatDimensions({ width: 1920, height: 1080 })).toBe("1920×1080");
    expect(formatDimensions({ width: 0, height: 0 })).toBe("");
  });

  it("describes an image by name, dimensions and size", () => {
    const image = { filename: "a.png", width: 2, height: 3, size: 2048 } as Image;
    expect(describeImage(image)).toBe("a.png · 2×3 · 2.0 KB");
  });
});

describe("errorHelp", () => {
  it("has a distinct headline and a next step for every code", () => {
    // Every code the Rust side can send (from the shared wire fixture).
    const codes = fixture.command_errors.map((e) => e.code as ErrorCode);
    expect(codes.length).toBeGreaterThanOrEqual(13);
    const titles = codes.map((code) => errorHelp({ code, message: "m" }).title);
    expect(new Set(titles).size).toBe(codes.length);
    for (const code of codes) expect(errorHelp({ code, message: "m" }).hint.length).toBeGreaterThan(10);
    expect(errorHelp({ code: "not_configured", message: "" }).hint).toContain("imgcloud login");
  });
});

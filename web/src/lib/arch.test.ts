import { describe, expect, it } from "vitest";
import type { Module } from "../api/client";
import { buildTree, flatten, layoutBlocks, scoreColor, totalFlops } from "./arch";

function mod(
  name: string,
  type: string,
  parent: string | null,
  params: number,
  flops?: number,
): Module {
  return { name, type, parent, params, trainable_params: params, flops: flops ?? null };
}

const cnn = [
  mod("", "Net", null, 0, 1000),
  mod("features", "Sequential", "", 0),
  mod("features.0", "Conv2d", "features", 320, 600),
  mod("features.1", "ReLU", "features", 0, 10),
  mod("classifier", "Linear", "", 1290, 390),
];

describe("buildTree", () => {
  it("nests modules and sums parameters over subtrees", () => {
    const root = buildTree(cnn)!;
    expect(root.subtreeParams).toBe(1610);
    expect(root.children.map((c) => c.name)).toEqual(["features", "classifier"]);
    expect(root.children[0].subtreeParams).toBe(320);
    expect(flatten(root).map((n) => n.depth)).toEqual([0, 1, 2, 2, 1]);
  });

  it("keeps modules with an unknown parent under the root", () => {
    const root = buildTree([mod("", "M", null, 0), mod("x", "Linear", "ghost", 5)])!;
    expect(root.children[0].name).toBe("x");
  });

  it("is null for an empty architecture", () => {
    expect(buildTree([])).toBeNull();
  });
});

describe("totalFlops", () => {
  it("uses the root's inclusive figure, else the leaves' sum", () => {
    expect(totalFlops(buildTree(cnn))).toBe(1000);
    const noRoot = cnn.map((m) => (m.name === "" ? { ...m, flops: null } : m));
    expect(totalFlops(buildTree(noRoot))).toBe(1000);
  });
});

describe("layoutBlocks", () => {
  it("gives every module a block, containers spanning their children", () => {
    const blocks = layoutBlocks(buildTree(cnn), "params");
    expect(blocks).toHaveLength(5);
    const byName = new Map(blocks.map((b) => [b.node.name, b]));
    const features = byName.get("features")!;
    const conv = byName.get("features.0")!;
    const relu = byName.get("features.1")!;
    expect(features.x - features.width / 2).toBeLessThanOrEqual(conv.x - conv.width / 2);
    expect(features.x + features.width / 2).toBeGreaterThanOrEqual(relu.x + relu.width / 2);
    expect(conv.height).toBeGreaterThan(relu.height);
    expect(conv.y).toBeGreaterThan(features.y);
  });

  it("lays out a deep transformer-like tree without overlap between leaves", () => {
    const mods: Module[] = [mod("", "T", null, 0)];
    for (let b = 0; b < 4; b++) {
      mods.push(mod(`blocks.${b}`, "Block", "", 0));
      mods.push(mod(`blocks.${b}.attn`, "MultiheadAttention", `blocks.${b}`, 4096));
      mods.push(mod(`blocks.${b}.mlp`, "Linear", `blocks.${b}`, 8192));
    }
    const leaves = layoutBlocks(buildTree(mods), "params")
      .filter((b) => b.node.children.length === 0)
      .sort((a, b) => a.x - b.x);
    for (let i = 1; i < leaves.length; i++) {
      expect(leaves[i].x - leaves[i].width / 2).toBeGreaterThan(
        leaves[i - 1].x + leaves[i - 1].width / 2,
      );
    }
  });
});

describe("scoreColor", () => {
  it("goes from red to green and is grey when unknown", () => {
    expect(scoreColor(0)).toBe("hsl(0, 70%, 45%)");
    expect(scoreColor(100)).toBe("hsl(120, 70%, 45%)");
    expect(scoreColor(undefined)).toBe("#9ca3af");
  });
});

// The registered model's module tree, its per-module shares of parameters and compute, and the
// layout of the 3D view. Works for any tree: nothing here assumes a kind of network.
import type { Module } from "../api/client";

export interface ArchNode {
  name: string;
  type: string;
  depth: number;
  children: ArchNode[];
  params: number; // owned directly
  subtreeParams: number; // this module and its descendants
  flops: number | null; // forward FLOPs per sample as reported (inclusive for containers)
  module: Module;
}

/** Builds the tree; modules whose parent is unknown hang off the root, so nothing is lost. */
export function buildTree(modules: Module[]): ArchNode | null {
  if (modules.length === 0) return null;
  const byName = new Map<string, ArchNode>();
  const nodes = modules.map((m) => {
    const n: ArchNode = {
      name: m.name,
      type: m.type,
      depth: 0,
      children: [],
      params: m.params,
      subtreeParams: m.params,
      flops: typeof m.flops === "number" ? m.flops : null,
      module: m,
    };
    byName.set(m.name, n);
    return n;
  });
  const root = nodes[0];
  for (let i = 1; i < nodes.length; i++) {
    const parent = byName.get(modules[i].parent ?? "") ?? root;
    (parent === nodes[i] ? root : parent).children.push(nodes[i]);
  }
  const visit = (n: ArchNode, depth: number): number => {
    n.depth = depth;
    n.subtreeParams = n.params + n.children.reduce((s, c) => s + visit(c, depth + 1), 0);
    return n.subtreeParams;
  };
  visit(root, 0);
  return root;
}

export function flatten(root: ArchNode | null): ArchNode[] {
  const out: ArchNode[] = [];
  const walk = (n: ArchNode) => {
    out.push(n);
    n.children.forEach(walk);
  };
  if (root) walk(root);
  return out;
}

/**
 * The model's total forward FLOPs per sample: the root's figure when it reports one (containers
 * are inclusive), else the sum over leaves.
 */
export function totalFlops(root: ArchNode | null): number | null {
  if (!root) return null;
  if (root.flops !== null && root.flops > 0) return root.flops;
  const leaves = flatten(root).filter((n) => n.children.length === 0 && n.flops !== null);
  if (leaves.length === 0) return null;
  return leaves.reduce((s, n) => s + (n.flops ?? 0), 0);
}

export interface Block {
  node: ArchNode;
  x: number; // centre
  y: number; // bottom
  width: number;
  height: number;
  depthZ: number;
}

/**
 * Lays the tree out as a city: leaves stand side by side in registration order, each container
 * is a slab under the span of its descendants, one level per tree depth. A block's size grows
 * with the log of its parameters (or FLOPs), so a 1,000x larger layer is visibly, not absurdly,
 * larger.
 */
export function layoutBlocks(root: ArchNode | null, sizeBy: "params" | "flops"): Block[] {
  if (!root) return [];
  const blocks: Block[] = [];
  const slab = 0.25;
  const gap = 0.3;
  let cursor = 0;
  const measure = (n: ArchNode) => {
    const v = sizeBy === "params" ? n.subtreeParams : (n.flops ?? 0);
    return Math.log10(1 + Math.max(0, v));
  };
  const place = (n: ArchNode): { left: number; right: number } => {
    const y = n.depth * slab;
    if (n.children.length === 0) {
      const s = 0.4 + measure(n) * 0.25;
      const left = cursor;
      cursor += s + gap;
      blocks.push({
        node: n,
        x: left + s / 2,
        y,
        width: s,
        height: 0.2 + measure(n) * 0.45,
        depthZ: s,
      });
      return { left, right: left + s };
    }
    let left = Infinity;
    let right = -Infinity;
    for (const c of n.children) {
      const span = place(c);
      left = Math.min(left, span.left);
      right = Math.max(right, span.right);
    }
    const w = right - left + gap * 0.6;
    blocks.push({
      node: n,
      x: (left + right) / 2,
      y,
      width: w,
      height: slab * 0.8,
      depthZ: 1 + measure(n) * 0.4,
    });
    return { left, right };
  };
  place(root);
  const mid = cursor / 2;
  for (const b of blocks) b.x -= mid;
  return blocks;
}

/** A 0..100 score as a colour from red (0) through amber to green (100); grey when unknown. */
export function scoreColor(score: number | null | undefined): string {
  if (score === null || score === undefined || !Number.isFinite(score)) return "#9ca3af";
  const t = Math.max(0, Math.min(100, score)) / 100;
  const hue = t * 120; // 0 red, 60 amber, 120 green
  return `hsl(${hue.toFixed(0)}, 70%, 45%)`;
}

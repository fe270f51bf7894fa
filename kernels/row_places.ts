// Rows of several sequences in one forward call (batched decoding): each row has its own absolute
// position and its own stretch of a KV cache shared by the sequences. The attention kernels take a
// table of (position, sequence) per row, sequence s owning rows s·cacheRows … (s + 1)·cacheRows − 1
// of each layer's cache; without one, row t is at position0 + t in a cache of its own.

import type { GpuContext } from "./gpu.ts";

export interface RowPlaces {
  /** (T) vec2<u32>: each row's absolute position and sequence. */
  table: GPUBuffer;
  /** The largest position among the rows (it sizes split-K attention). */
  lastPosition: number;
}

/** CPU twin of RowPlaces, for the references. */
export interface RowPlacesData {
  positions: number[];
  sequences: number[];
}

/** The table's contents for rows at `positions` of `sequences`. */
export function rowPlacesTable({ positions, sequences }: RowPlacesData): Uint32Array {
  const table = new Uint32Array(positions.length * 2);
  positions.forEach((position, t) => {
    table[2 * t] = position;
    table[2 * t + 1] = sequences[t];
  });
  return table;
}

/** The table's binding: the rows' table, or a stand-in the kernel never reads (one sequence). */
export function rowPlacesBinding(gpu: GpuContext, places?: RowPlaces): GPUBuffer {
  if (places) return places.table;
  let buffer = unused.get(gpu);
  if (!buffer) unused.set(gpu, buffer = gpu.createBuffer(8, "no row table"));
  return buffer;
}

const unused = new WeakMap<GpuContext, GPUBuffer>();

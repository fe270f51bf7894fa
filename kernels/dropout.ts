// Inverted dropout (PyTorch's nn.Dropout in training: dropped values 0, kept ones × 1/(1 − p))
// whose mask is recomputed, not stored: element i of a tensor is kept iff a hash of (key, i) is at
// least p·2³². The key names the mask's stream (dropoutKey: seed, step, pass, layer, module), so
// the backward pass and a resumed run see the masks of the forward. Used on LoRA's input
// (core/train/layer.ts): y = x·Wᵀ + s·B·A·dropout(x).

import { type Binding, GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import dropoutSource from "./dropout.wgsl" with { type: "text" };
import hashSource from "./hash.wgsl" with { type: "text" };
import { lowbias32 } from "./hash.ts";

const source = hashSource + dropoutSource;

const WG = 256;

export class DropoutError extends Error {
  override name = "DropoutError";
}

/** A mask stream's key from the words that identify it (e.g. seed, step, pass, layer, module). */
export function dropoutKey(...words: number[]): number {
  let key = 0x9e3779b9;
  for (const word of words) key = lowbias32(key ^ lowbias32(word));
  return key;
}

/** round(p · 2³²), capped to 2³² − 1; p must be in [0, 1). */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new DropoutError(`dropout must be in [0, 1), got ${p}`);
  return Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
}

/** Whether element `index` of stream `key` is kept at dropout `p`. */
export function dropoutKeeps(key: number, index: number, threshold: number): boolean {
  return lowbias32(key ^ lowbias32(index)) >= threshold;
}

export interface DropoutArgs {
  /** (n) f32 input. */
  x: Binding;
  /** (n) f32 output, or added to with `accumulate`. */
  y: GPUBuffer;
  count: number;
  /** Probability of dropping an element, in [0, 1). */
  p: number;
  key: number;
  accumulate?: boolean;
}

export function dropout(batch: GpuBatch, args: DropoutArgs): void {
  if (args.count === 0) return;
  const threshold = dropoutThreshold(args.p);
  batch.dispatch(
    batch.gpu.pipeline(source),
    new Uniforms().u32(args.count).u32(args.key >>> 0).u32(threshold)
      .f32(1 / (1 - args.p)).u32(args.accumulate ? 1 : 0),
    [args.x, args.y],
    workgroupGrid(batch.gpu, Math.ceil(args.count / WG)),
  );
}

/**
 * dropout on the CPU: x with the kernel's mask and factor (Math.fround(1 / (1 − p))); x[i] is
 * element `offset + i` of the kernel's tensor.
 */
export function dropoutReference(
  x: ArrayLike<number>,
  p: number,
  key: number,
  offset = 0,
): Float64Array {
  const threshold = dropoutThreshold(p);
  const factor = Math.fround(1 / (1 - p));
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    y[i] = dropoutKeeps(key, offset + i, threshold) ? x[i] * factor : 0;
  }
  return y;
}

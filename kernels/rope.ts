// Rotary position embedding (rotate-half / NEOX layout, as in HF Gemma): the inverse frequency
// tables (made on the CPU, uploaded once per device) and the CPU reference. The GPU applies it in
// attention_input.wgsl, fused with the rest of the attention's input preparation.

import type { GpuContext } from "./gpu.ts";

/** θ^(-2i/D) / factor for i < D/2, rounded to f32 (as HF transformers computes it). */
export function inverseFrequencies(headDim: number, theta: number, factor = 1): Float32Array {
  return Float32Array.from(
    { length: headDim / 2 },
    (_, i) => Math.fround(1 / theta ** ((2 * i) / headDim)) / factor,
  );
}

/** One uploaded table per (device, D, θ, factor): models use at most two. */
const tables = new WeakMap<GpuContext, Map<string, GPUBuffer>>();

/** The uploaded table of inverseFrequencies(headDim, theta, factor). */
export function inverseFrequencyBuffer(
  gpu: GpuContext,
  headDim: number,
  theta: number,
  factor: number,
): GPUBuffer {
  let byKey = tables.get(gpu);
  if (!byKey) tables.set(gpu, byKey = new Map());
  const key = `${headDim}/${theta}/${factor}`;
  let buffer = byKey.get(key);
  if (!buffer) {
    buffer = gpu.upload(inverseFrequencies(headDim, theta, factor), `inv_freq ${key}`);
    byKey.set(key, buffer);
  }
  return buffer;
}

/**
 * A fresh rotated copy of x (T, H, D). The angle is rounded to f32 as in HF transformers (so at
 * position p it carries up to half an f32 ulp of p·inv_freq, ~1e-4 rad at 3000); cos, sin and the
 * rotation are f64.
 */
export function ropeReference(
  x: Float32Array,
  rows: number,
  heads: number,
  headDim: number,
  position0: number,
  theta: number,
  factor = 1,
): Float32Array {
  const y = new Float32Array(x.length);
  const half = headDim / 2;
  const invFreq = inverseFrequencies(headDim, theta, factor);
  for (let t = 0; t < rows; t++) {
    for (let h = 0; h < heads; h++) {
      const base = (t * heads + h) * headDim;
      for (let i = 0; i < half; i++) {
        // As HF transformers does: inv_freq in f32, angle = position · inv_freq rounded to f32.
        const angle = Math.fround((position0 + t) * invFreq[i]);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        const a = x[base + i];
        const b = x[base + i + half];
        y[base + i] = a * c - b * s;
        y[base + i + half] = b * c + a * s;
      }
    }
  }
  return y;
}

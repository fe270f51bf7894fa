// Pieces that the 256-value block codecs share (quant.ts, quant_k.ts): the packed 6-bit (scale,
// min) pairs of q4_k and q5_k, and the one-pass choice of affine sub-block scales that the simple
// K-quant encoders make. (f16 fields and the codec types: quant_formats32.ts.)

import { f16BitsToF32, f32ToF16Bits } from "./gpu.ts";
import { f16At } from "./quant_formats32.ts";

export function f16Round(value: number): number {
  return f16BitsToF32(f32ToF16Bits(value));
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/**
 * The 6-bit (scale, min) of sub-block s (0 … 7) from the 12 scale bytes at `at` of a q4_k or q5_k
 * block. Sub-blocks 0–3 use the low 6 bits of bytes s (scale) and s + 4 (min); sub-blocks 4–7
 * take their low 4 bits from byte s + 4 (scale: low nibble, min: high nibble) and their top 2 bits
 * from the top bits of bytes s − 4 (scale) and s (min).
 */
export function q4kScaleMin(src: Uint8Array, at: number, s: number): [number, number] {
  if (s < 4) return [src[at + s] & 63, src[at + s + 4] & 63];
  const packed = src[at + s + 4];
  return [
    (packed & 15) | ((src[at + s - 4] >> 6) << 4),
    (packed >> 4) | ((src[at + s] >> 6) << 4),
  ];
}

/**
 * Decodes a q4_k-shaped block (q5_k too): f16 d and dmin at `at`, the packed scale bytes at
 * at + 4, eight sub-blocks of 32 values x = d·scale·q − dmin·min, with q = code(s, l) for value l
 * of sub-block s. In f32 step by step, as llama.cpp's dequantize_row_q4_K / _q5_K compute it.
 */
export function decodeScaleMinBlock(
  src: Uint8Array,
  at: number,
  out: Float32Array,
  to: number,
  code: (s: number, l: number) => number,
): void {
  const d = f16At(src, at);
  const dmin = f16At(src, at + 2);
  for (let s = 0; s < 8; s++) {
    const [scale, min] = q4kScaleMin(src, at + 4, s);
    const ds = Math.fround(d * scale);
    const dm = Math.fround(dmin * min);
    for (let l = 0; l < 32; l++) out[to + 32 * s + l] = Math.fround(ds * code(s, l)) - dm;
  }
}

/** Packs eight 6-bit scales and mins into the 12 bytes at `at` (q4kScaleMin's inverse). */
export function packQ4kScaleMins(
  out: Uint8Array,
  at: number,
  scales: ArrayLike<number>,
  mins: ArrayLike<number>,
): void {
  for (let s = 0; s < 4; s++) {
    out[at + s] = scales[s] | ((scales[s + 4] >> 4) << 6);
    out[at + s + 4] = mins[s] | ((mins[s + 4] >> 4) << 6);
    out[at + s + 8] = (scales[s + 4] & 15) | ((mins[s + 4] & 15) << 4);
  }
}

/** An affine super-block's scales: x ≈ d·scales[s]·q − dmin·mins[s] in sub-block s. */
export interface AffineScales {
  d: number;
  dmin: number;
  scales: Uint8Array;
  mins: Uint8Array;
}

/**
 * A one-pass choice of affine scales for `count` sub-blocks of `size` values from `from`, codes
 * q in 0 … `levels` and scale / min codes in 0 … `codeMax`: per sub-block the min −min(0,
 * smallest) and the step (largest − smallest) / levels; d and dmin (f16) spread the largest step
 * and min over the codes, which round up so that each sub-block's range stays covered. (Valid
 * blocks with a reasonable error, not llama.cpp's error search.)
 */
export function affineScales(
  src: Float32Array,
  from: number,
  shape: { count: number; size: number; levels: number; codeMax: number },
): AffineScales {
  const { count, size, levels, codeMax } = shape;
  const steps = new Float64Array(count);
  const mins = new Float64Array(count);
  for (let s = 0; s < count; s++) {
    let lo = 0;
    let hi = -Infinity;
    for (let l = 0; l < size; l++) {
      const v = src[from + size * s + l];
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    steps[s] = (hi - lo) / levels;
    mins[s] = -lo;
  }
  const d = f16Round(Math.max(...steps) / codeMax);
  const dmin = f16Round(Math.max(...mins) / codeMax);
  return {
    d,
    dmin,
    scales: Uint8Array.from(steps, (step) => d ? Math.min(codeMax, Math.ceil(step / d)) : 0),
    mins: Uint8Array.from(mins, (min) => dmin ? Math.min(codeMax, Math.ceil(min / dmin)) : 0),
  };
}

/** The code of `v` in a sub-block of step ds (f32) and offset dm, in 0 … levels. */
export function affineCode(v: number, ds: number, dm: number, levels: number): number {
  return ds ? clamp(Math.round((v + dm) / ds), 0, levels) : 0;
}

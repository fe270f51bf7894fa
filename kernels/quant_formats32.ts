// The CPU codecs of GGUF's 32-value block formats beyond q8_0 (quant.ts joins them into its
// dequantize / quantize): q4_0 and its relatives, which all keep 16 bytes of nibbles where byte j
// holds value j in its low nibble and value j + 16 in its high nibble. The 5-bit formats add the
// fifth bit of value j as bit j of a little-endian u32 qh. Fields in block order:
//
//   q4_0   18 bytes: f16 d, 16 nibble bytes;                x = d·(q − 8)
//   q5_0   22 bytes: f16 d, u32 qh, 16 nibble bytes;        x = d·(q − 16)
//   q4_1   20 bytes: f16 d, f16 m, 16 nibble bytes;         x = d·q + m
//   q5_1   24 bytes: f16 d, f16 m, u32 qh, 16 nibble bytes; x = d·q + m
//   iq4_nl 18 bytes: f16 d, 16 nibble bytes;                x = d·IQ4_NL_VALUES[q]
//
// Decoders compute in f32 as gguf.quants.dequantize does (the tests demand equal bits). Encoders
// round as llama.cpp's reference quantizers (quantize_row_*_ref) do, except iq4_nl's, which picks
// the nearest table entry under one scale (llama.cpp searches scales to lower the error).

import { f16BitsToF32, f32ToF16Bits } from "./gpu.ts";

export type BlockDecoder = (src: Uint8Array, at: number, out: Float32Array, to: number) => void;
export type BlockEncoder = (src: Float32Array, from: number, out: Uint8Array, at: number) => void;

export function f16At(src: Uint8Array, at: number): number {
  return f16BitsToF32(src[at] | (src[at + 1] << 8));
}

export function setF16(out: Uint8Array, at: number, value: number): void {
  const bits = f32ToF16Bits(value);
  out[at] = bits & 255;
  out[at + 1] = bits >> 8;
}

function u32At(src: Uint8Array, at: number): number {
  return (src[at] | (src[at + 1] << 8) | (src[at + 2] << 16) | (src[at + 3] << 24)) >>> 0;
}

function setU32(out: Uint8Array, at: number, value: number): void {
  for (let i = 0; i < 4; i++) out[at + i] = (value >>> (8 * i)) & 255;
}

/**
 * Calls `emit(j, code)` for the 32 codes of a block whose nibbles start at `qs`, with the fifth
 * bits from `qh` (0 for the 4-bit formats).
 */
function eachCode(
  src: Uint8Array,
  qs: number,
  qh: number,
  emit: (j: number, code: number) => void,
): void {
  for (let j = 0; j < 16; j++) {
    const byte = src[qs + j];
    emit(j, (byte & 15) | (((qh >>> j) & 1) << 4));
    emit(j + 16, (byte >> 4) | (((qh >>> (j + 16)) & 1) << 4));
  }
}

/**
 * iq4_nl's 16 levels (llama.cpp's kvalues_iq4nl): denser near zero, where most weights are, and
 * lopsided (−127 … 113).
 */
// deno-fmt-ignore
export const IQ4_NL_VALUES: readonly number[] = [
  -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/** Codes times d, plus m: x = d·q + m, d·q rounded to f32 first. */
function affineCode(d: number, m: number): (q: number) => number {
  return (q) => Math.fround(d * q) + m;
}

export const DECODERS32 = {
  q4_0(src, at, out, to) {
    const d = f16At(src, at);
    eachCode(src, at + 2, 0, (j, q) => out[to + j] = d * (q - 8));
  },
  q5_0(src, at, out, to) {
    const d = f16At(src, at);
    eachCode(src, at + 6, u32At(src, at + 2), (j, q) => out[to + j] = d * (q - 16));
  },
  q4_1(src, at, out, to) {
    const value = affineCode(f16At(src, at), f16At(src, at + 2));
    eachCode(src, at + 4, 0, (j, q) => out[to + j] = value(q));
  },
  q5_1(src, at, out, to) {
    const value = affineCode(f16At(src, at), f16At(src, at + 2));
    eachCode(src, at + 8, u32At(src, at + 4), (j, q) => out[to + j] = value(q));
  },
  iq4_nl(src, at, out, to) {
    const d = f16At(src, at);
    eachCode(src, at + 2, 0, (j, q) => out[to + j] = d * IQ4_NL_VALUES[q]);
  },
} satisfies Record<string, BlockDecoder>;

/** The value of largest magnitude (the first of equals), and that magnitude. */
function extreme(src: Float32Array, from: number): { max: number; amax: number } {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < 32; j++) {
    const v = src[from + j];
    if (Math.abs(v) > amax) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return { max, amax };
}

/**
 * Writes 32 codes (0 … 31) as nibbles at `qs` and, if `qh` is given, their fifth bits as the u32
 * at `qh`.
 */
function packCodes(codes: Uint8Array, out: Uint8Array, qs: number, qh: number | null): void {
  let high = 0;
  for (let j = 0; j < 16; j++) {
    out[qs + j] = (codes[j] & 15) | ((codes[j + 16] & 15) << 4);
    high |= ((codes[j] >> 4) << j) | ((codes[j + 16] >> 4) << (j + 16));
  }
  if (qh !== null) setU32(out, qh, high >>> 0);
}

/**
 * Symmetric codes with an offset of `zero` (8 or 16): d = max / −zero, with max the value of
 * largest magnitude, so that max lands on code 0 exactly; the others round to
 * trunc(x / d + zero + 0.5) in f32, and 2·zero is clamped to 2·zero − 1.
 */
function symmetric(zero: number): (src: Float32Array, from: number) => [number, Uint8Array] {
  return (src, from) => {
    const d = Math.fround(extreme(src, from).max / -zero);
    const id = d ? Math.fround(1 / d) : 0;
    const codes = new Uint8Array(32);
    for (let j = 0; j < 32; j++) {
      const v = Math.fround(Math.fround(src[from + j] * id) + zero + 0.5);
      codes[j] = Math.min(2 * zero - 1, Math.trunc(v));
    }
    return [d, codes];
  };
}

const symmetric4 = symmetric(8);
const symmetric5 = symmetric(16);

/**
 * Codes 0 … levels from the block's minimum: d = (max − min) / levels, m = min, code =
 * trunc((x − min) / d + 0.5) in f32, clamped to levels.
 */
function asymmetric(
  levels: number,
): (src: Float32Array, from: number) => [number, number, Uint8Array] {
  return (src, from) => {
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < 32; j++) {
      min = Math.min(min, src[from + j]);
      max = Math.max(max, src[from + j]);
    }
    const d = Math.fround(Math.fround(max - min) / levels);
    const id = d ? Math.fround(1 / d) : 0;
    const codes = new Uint8Array(32);
    for (let j = 0; j < 32; j++) {
      const v = Math.fround(Math.fround(src[from + j] - min) * id);
      codes[j] = Math.min(levels, Math.trunc(Math.fround(v + 0.5)));
    }
    return [d, min, codes];
  };
}

const asymmetric4 = asymmetric(15);
const asymmetric5 = asymmetric(31);

/** The iq4_nl code whose level is nearest to v (the first of two equally near). */
export function nearestLevel(v: number): number {
  let best = 0;
  for (let q = 1; q < 16; q++) {
    if (Math.abs(IQ4_NL_VALUES[q] - v) < Math.abs(IQ4_NL_VALUES[best] - v)) best = q;
  }
  return best;
}

export const ENCODERS32 = {
  q4_0(src, from, out, at) {
    const [d, codes] = symmetric4(src, from);
    setF16(out, at, d);
    packCodes(codes, out, at + 2, null);
  },
  q5_0(src, from, out, at) {
    const [d, codes] = symmetric5(src, from);
    setF16(out, at, d);
    packCodes(codes, out, at + 6, at + 2);
  },
  q4_1(src, from, out, at) {
    const [d, m, codes] = asymmetric4(src, from);
    setF16(out, at, d);
    setF16(out, at + 2, m);
    packCodes(codes, out, at + 4, null);
  },
  q5_1(src, from, out, at) {
    const [d, m, codes] = asymmetric5(src, from);
    setF16(out, at, d);
    setF16(out, at + 2, m);
    packCodes(codes, out, at + 8, at + 4);
  },
  iq4_nl(src, from, out, at) {
    // The value of largest magnitude lands on level −127 exactly; the others on the nearest level.
    const d = Math.fround(extreme(src, from).max / IQ4_NL_VALUES[0]);
    const id = d ? Math.fround(1 / d) : 0;
    const codes = new Uint8Array(32);
    for (let j = 0; j < 32; j++) codes[j] = nearestLevel(Math.fround(src[from + j] * id));
    setF16(out, at, d);
    packCodes(codes, out, at + 2, null);
  },
} satisfies Record<string, BlockEncoder>;

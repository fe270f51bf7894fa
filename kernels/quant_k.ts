// The CPU codecs of the 256-value super-block formats that quantized downloads (ollama, LM
// Studio) mix with q4_k and q6_k: q5_k, q3_k, q2_k and iq4_xs (block layouts in quant.ts's
// header). Decoders follow llama.cpp's dequantize_row_* operation by operation in f32, so that
// they give the same bits; encoders make a simple one-pass choice of scales (valid blocks with a
// reasonable error, not llama.cpp's error search).

import {
  affineCode,
  affineScales,
  clamp,
  decodeScaleMinBlock,
  f16Round,
  packQ4kScaleMins,
} from "./quant_fields.ts";
import {
  type BlockDecoder,
  type BlockEncoder,
  f16At,
  IQ4_NL_VALUES,
  nearestLevel,
  setF16,
} from "./quant_formats32.ts";

export type SuperBlockType = "q5_k" | "q3_k" | "q2_k" | "iq4_xs";

export const SUPER_BLOCK_DECODERS: Record<SuperBlockType, BlockDecoder> = {
  q5_k(src, at, out, to) {
    // Like q4_k, with a fifth bit: bit s of qh byte l (at + 16) for value l of sub-block s.
    decodeScaleMinBlock(
      src,
      at,
      out,
      to,
      (s, l) =>
        ((src[at + 48 + 32 * (s >> 1) + l] >> 4 * (s & 1)) & 15) |
        (((src[at + 16 + l] >> s) & 1) << 4),
    );
  },
  q3_k(src, at, out, to) {
    const d = f16At(src, at + 108);
    for (let s = 0; s < 16; s++) {
      const dl = Math.fround(d * q3kScale(src, at + 96, s));
      for (let i = 0; i < 16; i++) {
        const { q, qShift, bit } = lowBitsIndex(16 * s + i);
        // A set hmask bit adds 4 to the 2-bit code: codes −4 … 3.
        const code = ((src[at + 32 + q] >> qShift) & 3) - ((src[at + (q & 31)] >> bit) & 1 ? 0 : 4);
        out[to + 16 * s + i] = dl * code;
      }
    }
  },
  q2_k(src, at, out, to) {
    const d = f16At(src, at + 80);
    const dmin = f16At(src, at + 82);
    for (let s = 0; s < 16; s++) {
      const dl = Math.fround(d * (src[at + s] & 15));
      const ml = Math.fround(dmin * (src[at + s] >> 4));
      for (let i = 0; i < 16; i++) {
        const { q, qShift } = lowBitsIndex(16 * s + i);
        out[to + 16 * s + i] = Math.fround(dl * ((src[at + 16 + q] >> qShift) & 3)) - ml;
      }
    }
  },
  iq4_xs(src, at, out, to) {
    const d = f16At(src, at);
    for (let s = 0; s < 8; s++) {
      const dl = Math.fround(d * iq4xsScale(src, at, s));
      for (let j = 0; j < 16; j++) {
        const byte = src[at + 8 + 16 * s + j];
        out[to + 32 * s + j] = dl * IQ4_NL_VALUES[byte & 15];
        out[to + 32 * s + 16 + j] = dl * IQ4_NL_VALUES[byte >> 4];
      }
    }
  },
};

/**
 * Where value e (0 … 255) of a q3_k or q2_k block keeps its 2-bit code: in half h = e / 128,
 * value 32j + l (j = 0 … 3, l = 0 … 31) is bits 2j, 2j + 1 of code byte 32h + l. q3_k's third
 * bit is bit 4h + j of hmask byte l (= q mod 32).
 */
function lowBitsIndex(e: number): { q: number; qShift: number; bit: number } {
  const h = e >> 7;
  const j = (e >> 5) & 3;
  return { q: 32 * h + (e & 31), qShift: 2 * j, bit: 4 * h + j };
}

/**
 * Signed 6-bit scale s (0 … 15) of a q3_k block from its 12 scale bytes at `at`: low 4 bits in the
 * low (s < 8) or high nibble of byte s mod 8, top 2 bits at bit 2·(s / 4) of byte 8 + s mod 4;
 * stored plus 32.
 */
function q3kScale(src: Uint8Array, at: number, s: number): number {
  const low = (src[at + (s & 7)] >> (4 * (s >> 3))) & 15;
  const high = (src[at + 8 + (s & 3)] >> (2 * (s >> 2))) & 3;
  return (low | (high << 4)) - 32;
}

/**
 * Signed 6-bit scale s (0 … 7) of an iq4_xs block: low 4 bits from nibble s of scales_l (the 4
 * bytes at 4, low nibble first), top 2 bits at bit 2s of the u16 scales_h (at 2); stored plus 32.
 */
function iq4xsScale(src: Uint8Array, at: number, s: number): number {
  const low = (src[at + 4 + (s >> 1)] >> (4 * (s & 1))) & 15;
  const high = ((src[at + 2] | (src[at + 3] << 8)) >> (2 * s)) & 3;
  return (low | (high << 4)) - 32;
}

export const SUPER_BLOCK_ENCODERS: Record<SuperBlockType, BlockEncoder> = {
  q5_k(src, from, out, at) {
    const shape = { count: 8, size: 32, levels: 31, codeMax: 63 };
    const { d, dmin, scales, mins } = affineScales(src, from, shape);
    setF16(out, at, d);
    setF16(out, at + 2, dmin);
    packQ4kScaleMins(out, at + 4, scales, mins);
    for (let s = 0; s < 8; s++) {
      const ds = Math.fround(d * scales[s]);
      const dm = Math.fround(dmin * mins[s]);
      for (let l = 0; l < 32; l++) {
        const q = affineCode(src[from + 32 * s + l], ds, dm, 31);
        out[at + 48 + 32 * (s >> 1) + l] |= (q & 15) << (4 * (s & 1));
        out[at + 16 + l] |= (q >> 4) << s;
      }
    }
  },
  q3_k(src, from, out, at) {
    // Signed steps: the value of largest magnitude of 16 maps to code −4 exactly (as q4_0).
    const { d, codes } = signedScales(src, from, 16, -4);
    setF16(out, at + 108, d);
    for (let s = 0; s < 16; s++) {
      const stored = codes[s] + 32;
      out[at + 96 + (s & 7)] |= (stored & 15) << (4 * (s >> 3));
      out[at + 104 + (s & 3)] |= (stored >> 4) << (2 * (s >> 2));
      const dl = Math.fround(d * codes[s]);
      for (let i = 0; i < 16; i++) {
        const code = (dl ? clamp(Math.round(src[from + 16 * s + i] / dl), -4, 3) : 0) + 4;
        const { q, qShift, bit } = lowBitsIndex(16 * s + i);
        out[at + 32 + q] |= (code & 3) << qShift;
        out[at + (q & 31)] |= (code >> 2) << bit;
      }
    }
  },
  q2_k(src, from, out, at) {
    const shape = { count: 16, size: 16, levels: 3, codeMax: 15 };
    const { d, dmin, scales, mins } = affineScales(src, from, shape);
    setF16(out, at + 80, d);
    setF16(out, at + 82, dmin);
    for (let s = 0; s < 16; s++) {
      out[at + s] = scales[s] | (mins[s] << 4);
      const dl = Math.fround(d * scales[s]);
      const ml = Math.fround(dmin * mins[s]);
      for (let i = 0; i < 16; i++) {
        const { q, qShift } = lowBitsIndex(16 * s + i);
        out[at + 16 + q] |= affineCode(src[from + 16 * s + i], dl, ml, 3) << qShift;
      }
    }
  },
  iq4_xs(src, from, out, at) {
    // Signed steps: the value of largest magnitude of 32 maps to the level −127 exactly.
    const { d, codes } = signedScales(src, from, 32, -127);
    setF16(out, at, d);
    let high = 0;
    for (let s = 0; s < 8; s++) {
      const stored = codes[s] + 32;
      out[at + 4 + (s >> 1)] |= (stored & 15) << (4 * (s & 1));
      high |= (stored >> 4) << (2 * s);
      const dl = Math.fround(d * codes[s]);
      for (let j = 0; j < 32; j++) {
        const q = nearestLevel(dl ? src[from + 32 * s + j] / dl : 0);
        out[at + 8 + 16 * s + (j & 15)] |= q << (4 * (j >> 4));
      }
    }
    out[at + 2] = high & 255;
    out[at + 3] = high >> 8;
  },
};

/**
 * Signed scales for sub-blocks of `size` values (256 / size of them): the step of sub-block s is
 * its value of largest magnitude (the first) over `extreme`; d (f16) spreads the largest |step|
 * over the signed 6-bit codes −31 … 31, which round to nearest.
 */
function signedScales(
  src: Float32Array,
  from: number,
  size: number,
  extreme: number,
): { d: number; codes: Int8Array } {
  const steps = new Float64Array(256 / size);
  for (let s = 0; s < steps.length; s++) {
    let max = 0;
    for (let i = 0; i < size; i++) {
      const v = src[from + size * s + i];
      if (Math.abs(v) > Math.abs(max)) max = v;
    }
    steps[s] = max / extreme;
  }
  const d = f16Round(Math.max(...steps.map(Math.abs)) / 31);
  return {
    d,
    codes: Int8Array.from(steps, (step) => d ? clamp(Math.round(step / d), -31, 31) : 0),
  };
}

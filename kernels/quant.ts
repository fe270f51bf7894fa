// GGUF's quantized block formats on the CPU: the block constants, quantizers (to make test data
// and to quantize f32 checkpoints at load time) and dequantizers that decode blocks exactly as
// llama.cpp does. Blocks run along a row (the input dimension); a row of K values is K / 32 or
// K / 256 consecutive blocks. All multi-byte fields are little-endian.
//
//   q8_0  32 values,  34 bytes: f16 d, 32 × i8 q;                        x = d·q
//   q4_0  32 values,  18 bytes: f16 d, 16 bytes of nibbles;               x = d·(q − 8)
//         byte j holds value j in its low nibble and value j + 16 in its high nibble.
//   q5_0  32 values,  22 bytes: f16 d, u32 qh, 16 bytes of nibbles;       x = d·(q − 16)
//         nibbles as q4_0's; bit j of qh is the fifth bit of value j.
//   q4_1, q5_1, iq4_nl (32 values): see quant_formats32.ts.
//   q4_k  256 values, 144 bytes: f16 d, f16 dmin, 12 bytes of eight 6-bit (scale, min) pairs,
//         128 bytes of nibbles; sub-block s (32 values) is x = d·scale_s·q − dmin·min_s.
//         Bytes 32·g … 32·g + 31 of the nibbles hold sub-block 2g in their low nibbles and
//         sub-block 2g + 1 in their high nibbles.
//   q6_k  256 values, 210 bytes: 128 bytes ql (low 4 bits), 64 bytes qh (high 2 bits), 16 × i8
//         scales (one per 16 values), f16 d; x = d·scale·(q − 32). See `q6kIndex` for the order.
//   q5_k  256 values, 176 bytes: q4_k's d, dmin and 12 scale bytes, 32 bytes qh, 128 bytes of
//         nibbles as q4_k's; value l of sub-block s adds bit s of qh byte l as its fifth bit.
//   q3_k  256 values, 110 bytes: 32 bytes hmask, 64 bytes of 2-bit codes, 12 bytes of sixteen
//         signed 6-bit scales (one per 16 values), f16 d; x = d·scale·(q − 4 + 4·hbit).
//   q2_k  256 values, 84 bytes: 16 bytes of (4-bit scale, 4-bit min) pairs (one per 16 values),
//         64 bytes of 2-bit codes as q3_k's, f16 d, f16 dmin; x = d·scale·q − dmin·min.
//   iq4_xs 256 values, 136 bytes: f16 d, u16 scales_h, 4 bytes scales_l (eight signed 6-bit
//         scales, one per 32 values), 128 bytes of nibbles laid out as q4_0's per 32 values, each
//         picking one of 16 non-linear levels (iq4_nl's IQ4_NL_VALUES); x = d·scale·level.
//   quant_k.ts holds the codecs of the last four (where their bits are: see its helpers).
//
// The 32-value formats with nibbles (q4_0, q5_0, q4_1, q5_1, iq4_nl) have their codecs in
// quant_formats32.ts.
// Nothing here touches the GPU; matrix.ts owns how blocks are laid out in GPU buffers.

import {
  type BlockDecoder,
  type BlockEncoder,
  DECODERS32,
  ENCODERS32,
  f16At,
  setF16,
} from "./quant_formats32.ts";
import {
  affineCode,
  affineScales,
  clamp,
  decodeScaleMinBlock,
  f16Round,
  packQ4kScaleMins,
} from "./quant_fields.ts";
import { SUPER_BLOCK_DECODERS, SUPER_BLOCK_ENCODERS, type SuperBlockType } from "./quant_k.ts";

export type QuantType =
  | "q8_0"
  | "q4_0"
  | "q4_k"
  | "q6_k"
  | "q5_0"
  | "q4_1"
  | "q5_1"
  | "iq4_nl"
  | SuperBlockType;

export const QUANT_TYPES: readonly QuantType[] = [
  "q8_0",
  "q4_0",
  "q4_k",
  "q6_k",
  "q5_0",
  "q4_1",
  "q5_1",
  "iq4_nl",
  "q5_k",
  "q3_k",
  "q2_k",
  "iq4_xs",
];

/** Values per block. */
export const BLOCK_ELEMENTS: Readonly<Record<QuantType, number>> = {
  q8_0: 32,
  q4_0: 32,
  q4_k: 256,
  q6_k: 256,
  q5_0: 32,
  q4_1: 32,
  q5_1: 32,
  iq4_nl: 32,
  q5_k: 256,
  q3_k: 256,
  q2_k: 256,
  iq4_xs: 256,
};

/** Bytes per block, as GGUF files and llama.cpp store them. */
export const BLOCK_BYTES: Readonly<Record<QuantType, number>> = {
  q8_0: 34,
  q4_0: 18,
  q4_k: 144,
  q6_k: 210,
  q5_0: 22,
  q4_1: 20,
  q5_1: 24,
  iq4_nl: 18,
  q5_k: 176,
  q3_k: 110,
  q2_k: 84,
  iq4_xs: 136,
};

/** Byte offsets of the f16 fields (scales, mins) inside one block. */
export const F16_FIELDS: Readonly<Record<QuantType, readonly number[]>> = {
  q8_0: [0],
  q4_0: [0],
  q4_k: [0, 2],
  q6_k: [208],
  q5_0: [0],
  q4_1: [0, 2],
  q5_1: [0, 2],
  iq4_nl: [0],
  q5_k: [0, 2],
  q3_k: [108],
  q2_k: [80, 82],
  iq4_xs: [0],
};

/** The `ggml_type` ids of these formats in GGUF tensor infos. */
export const GGML_TYPE_IDS: Readonly<Record<QuantType, number>> = {
  q4_0: 2,
  q4_1: 3,
  q5_0: 6,
  q5_1: 7,
  q8_0: 8,
  q4_k: 12,
  q6_k: 14,
  iq4_nl: 20,
  q5_k: 13,
  q3_k: 11,
  q2_k: 10,
  iq4_xs: 23,
};

export function isQuantType(name: string): name is QuantType {
  return (QUANT_TYPES as readonly string[]).includes(name);
}

/** Bytes of `count` values (a multiple of the block size) stored as `type`. */
export function quantizedBytes(type: QuantType, count: number): number {
  checkCount(type, count, "quantizedBytes");
  return count / BLOCK_ELEMENTS[type] * BLOCK_BYTES[type];
}

function checkCount(type: QuantType, count: number, what: string): void {
  if (!Number.isInteger(count) || count < 0 || count % BLOCK_ELEMENTS[type] !== 0) {
    throw new RangeError(
      `${what}: ${count} values are not a whole number of ${type} blocks of ${
        BLOCK_ELEMENTS[type]
      }`,
    );
  }
}

// ---- decoding ----

/** Decodes `count` values (a multiple of the block size) from the blocks in `bytes`. */
export function dequantize(type: QuantType, bytes: Uint8Array, count: number): Float32Array {
  checkCount(type, count, "dequantize");
  const blocks = count / BLOCK_ELEMENTS[type];
  if (bytes.length < blocks * BLOCK_BYTES[type]) {
    throw new RangeError(
      `dequantize: ${count} ${type} values need ${
        blocks * BLOCK_BYTES[type]
      } bytes, got ${bytes.length}`,
    );
  }
  const out = new Float32Array(count);
  const decode = DECODERS[type];
  for (let b = 0; b < blocks; b++) {
    decode(bytes, b * BLOCK_BYTES[type], out, b * BLOCK_ELEMENTS[type]);
  }
  return out;
}

const DECODERS: Record<QuantType, BlockDecoder> = {
  ...DECODERS32,
  ...SUPER_BLOCK_DECODERS,
  q8_0(src, at, out, to) {
    const d = f16At(src, at);
    for (let j = 0; j < 32; j++) out[to + j] = d * ((src[at + 2 + j] << 24) >> 24);
  },
  q4_k(src, at, out, to) {
    // Bytes 32·g … 32·g + 31 of the nibbles (at + 16): sub-block 2g low, 2g + 1 high.
    decodeScaleMinBlock(
      src,
      at,
      out,
      to,
      (s, l) => (src[at + 16 + 32 * (s >> 1) + l] >> 4 * (s & 1)) & 15,
    );
  },
  q6_k(src, at, out, to) {
    const d = f16At(src, at + 208);
    for (let e = 0; e < 256; e++) {
      const { ql, lowShift, qh, highShift } = q6kIndex(e);
      const q = ((src[at + ql] >> lowShift) & 15) | (((src[at + 128 + qh] >> highShift) & 3) << 4);
      const scale = (src[at + 192 + (e >> 4)] << 24) >> 24;
      out[to + e] = Math.fround(d * scale) * (q - 32);
    }
  },
};

/**
 * Where value e (0 … 255) of a q6_k block keeps its bits. The block is two halves of 128 values;
 * in half h, value 32·g + l (g = 0 … 3, l = 0 … 31) has its low 4 bits in ql byte
 * 64·h + 32·(g & 1) + l (low nibble for g < 2, high for g ≥ 2) and its high 2 bits at bit 2·g of
 * qh byte 32·h + l (byte offsets relative to the start of ql and of qh).
 */
function q6kIndex(e: number): {
  ql: number;
  lowShift: number;
  qh: number;
  highShift: number;
} {
  const h = e >> 7;
  const g = (e >> 5) & 3;
  const l = e & 31;
  return {
    ql: 64 * h + 32 * (g & 1) + l,
    lowShift: 4 * (g >> 1),
    qh: 32 * h + l,
    highShift: 2 * g,
  };
}

// ---- encoding ----

/**
 * Quantizes `values` (a multiple of the block size) into GGUF blocks. q8_0, q4_0, q5_0, q4_1 and
 * q5_1 round like llama.cpp's reference quantizers (bit-identical blocks); the K-quants, iq4_nl
 * and iq4_xs use a simple one-pass choice of scales (valid blocks with a reasonable error, not
 * llama.cpp's error search).
 */
export function quantize(type: QuantType, values: Float32Array): Uint8Array {
  checkCount(type, values.length, "quantize");
  const blocks = values.length / BLOCK_ELEMENTS[type];
  const out = new Uint8Array(blocks * BLOCK_BYTES[type]);
  const encode = ENCODERS[type];
  for (let b = 0; b < blocks; b++) {
    encode(values, b * BLOCK_ELEMENTS[type], out, b * BLOCK_BYTES[type]);
  }
  return out;
}

const ENCODERS: Record<QuantType, BlockEncoder> = {
  ...ENCODERS32,
  ...SUPER_BLOCK_ENCODERS,
  q8_0(src, from, out, at) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(src[from + j]));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    setF16(out, at, d);
    for (let j = 0; j < 32; j++) {
      // C's roundf: halves away from zero (exact: v ± 0.5 is exact in f64 for |v| ≤ 128).
      const v = Math.fround(src[from + j] * id);
      out[at + 2 + j] = Math.trunc(v < 0 ? v - 0.5 : v + 0.5) & 255;
    }
  },
  q4_k(src, from, out, at) {
    const { d, dmin, scales, mins } = affineScales(src, from, {
      count: 8,
      size: 32,
      levels: 15,
      codeMax: 63,
    });
    setF16(out, at, d);
    setF16(out, at + 2, dmin);
    packQ4kScaleMins(out, at + 4, scales, mins);
    for (let s = 0; s < 8; s++) {
      const ds = Math.fround(d * scales[s]);
      const dm = Math.fround(dmin * mins[s]);
      const qs = at + 16 + 32 * (s >> 1);
      const shift = 4 * (s & 1);
      for (let l = 0; l < 32; l++) {
        out[qs + l] |= affineCode(src[from + 32 * s + l], ds, dm, 15) << shift;
      }
    }
  },
  q6_k(src, from, out, at) {
    // Per 16 values: step amax / 31 (q in −31 … 31); the super-block scale d spreads the largest
    // step over the i8 scales 0 … 127.
    const steps = new Float64Array(16);
    for (let s = 0; s < 16; s++) {
      let amax = 0;
      for (let l = 0; l < 16; l++) amax = Math.max(amax, Math.abs(src[from + 16 * s + l]));
      steps[s] = amax / 31;
    }
    const d = f16Round(Math.max(...steps) / 127);
    setF16(out, at + 208, d);
    for (let s = 0; s < 16; s++) out[at + 192 + s] = d ? Math.min(127, Math.ceil(steps[s] / d)) : 0;
    for (let e = 0; e < 256; e++) {
      const ds = Math.fround(d * out[at + 192 + (e >> 4)]);
      const q = ds ? clamp(Math.round(src[from + e] / ds), -32, 31) + 32 : 32;
      const { ql, lowShift, qh, highShift } = q6kIndex(e);
      out[at + ql] |= (q & 15) << lowShift;
      out[at + 128 + qh] |= (q >> 4) << highShift;
    }
  },
};

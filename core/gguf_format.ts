// GGUF's types and tables, shared by the header reader (gguf.ts), the tensor readers
// (gguf_tensors.ts) and the writer (gguf_write.ts). Import from gguf.ts, which re-exports all.
//
// Facts from the spec (github.com/ggml-org/ggml docs/gguf.md) and llama.cpp's gguf-py
// (constants.py: GGUFValueType, GGMLQuantizationType, GGML_QUANT_SIZES).

import type { QuantType } from "../kernels/quant.ts";

// ---- types ----

/** Metadata values are tagged with their GGUF type: JS numbers alone cannot say u32 from f32. */
export type GgufNumberType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64";
export type GgufScalar =
  | { type: GgufNumberType; value: number }
  | { type: "u64" | "i64"; value: bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string };
/** Numeric arrays are typed arrays (256000 scores stay one Float32Array, not 256000 numbers). */
export type GgufArray =
  | { type: "u8[]"; value: Uint8Array }
  | { type: "i8[]"; value: Int8Array }
  | { type: "u16[]"; value: Uint16Array }
  | { type: "i16[]"; value: Int16Array }
  | { type: "u32[]"; value: Uint32Array }
  | { type: "i32[]"; value: Int32Array }
  | { type: "f32[]"; value: Float32Array }
  | { type: "f64[]"; value: Float64Array }
  | { type: "u64[]"; value: BigUint64Array }
  | { type: "i64[]"; value: BigInt64Array }
  | { type: "bool[]"; value: boolean[] }
  | { type: "string[]"; value: string[] }
  /** An array of arrays (each element carries its own item type). */
  | { type: "array[]"; value: GgufArray[] };
export type GgufValue = GgufScalar | GgufArray;

/** GGUF value type ids, by position: VALUE_TYPES[id]. */
// deno-fmt-ignore
export const VALUE_TYPES = [
  "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
] as const;
/** Bytes per item of the fixed-size value types. */
// deno-fmt-ignore
export const VALUE_BYTES: Readonly<Record<string, number>> = {
  u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8,
};
/** The typed array of each numeric array type. */
// deno-fmt-ignore
export const TYPED_ARRAYS = {
  u8: Uint8Array, i8: Int8Array, u16: Uint16Array, i16: Int16Array, u32: Uint32Array,
  i32: Int32Array, f32: Float32Array, f64: Float64Array, u64: BigUint64Array, i64: BigInt64Array,
} as const;

/**
 * Every ggml tensor type a GGUF may list: [type id, values per block, bytes per block]
 * (gguf-py's GGML_QUANT_SIZES). We read F32/F16/BF16 and GGUF_QUANT_TYPES; the others are
 * located and size-checked, and reading their values is an "unsupported tensor type" error.
 */
// deno-fmt-ignore
export const GGUF_TENSOR_TYPES = {
  F32: [0, 1, 4], F16: [1, 1, 2], Q4_0: [2, 32, 18], Q4_1: [3, 32, 20], Q5_0: [6, 32, 22],
  Q5_1: [7, 32, 24], Q8_0: [8, 32, 34], Q8_1: [9, 32, 40], Q2_K: [10, 256, 84],
  Q3_K: [11, 256, 110], Q4_K: [12, 256, 144], Q5_K: [13, 256, 176], Q6_K: [14, 256, 210],
  Q8_K: [15, 256, 292], IQ2_XXS: [16, 256, 66], IQ2_XS: [17, 256, 74], IQ3_XXS: [18, 256, 98],
  IQ1_S: [19, 256, 50], IQ4_NL: [20, 32, 18], IQ3_S: [21, 256, 110], IQ2_S: [22, 256, 82],
  IQ4_XS: [23, 256, 136], I8: [24, 1, 1], I16: [25, 1, 2], I32: [26, 1, 4], I64: [27, 1, 8],
  F64: [28, 1, 8], IQ1_M: [29, 256, 56], BF16: [30, 1, 2], TQ1_0: [34, 256, 54],
  TQ2_0: [35, 256, 66],
} as const satisfies Record<string, readonly [number, number, number]>;
export type GgufTensorType = keyof typeof GGUF_TENSOR_TYPES;
/** The block formats kernels/quant.ts decodes, by GGUF name. */
export const GGUF_QUANT_TYPES: Partial<Record<GgufTensorType, QuantType>> = {
  Q8_0: "q8_0",
  Q4_0: "q4_0",
  Q5_0: "q5_0",
  Q4_1: "q4_1",
  Q5_1: "q5_1",
  IQ4_NL: "iq4_nl",
  Q4_K: "q4_k",
  Q6_K: "q6_k",
  Q5_K: "q5_k",
  Q3_K: "q3_k",
  Q2_K: "q2_k",
  IQ4_XS: "iq4_xs",
};

export interface GgufTensorInfo {
  name: string;
  type: GgufTensorType;
  /** As stored: innermost (the input dimension, the contiguous one) first. */
  dims: number[];
  /** PyTorch order (dims reversed): [out, in] for a projection. */
  shape: number[];
  /** The file holding the tensor. */
  path: string;
  /** Absolute byte offset of the tensor's data. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  path: string;
  version: number;
  /** In file order. */
  metadata: Map<string, GgufValue>;
  /** In file order. */
  tensors: GgufTensorInfo[];
  alignment: number;
}

export const GGUF_DEFAULT_ALIGNMENT = 32;

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Rows (the product of all dims but the innermost; 1 for a 1-D tensor) and bytes per row. */
export function ggufRows(
  info: GgufTensorInfo,
): { rows: number; rowLength: number; rowBytes: number } {
  const rowLength = info.dims[0];
  const rows = info.dims.slice(1).reduce((a, b) => a * b, 1);
  return { rows, rowLength, rowBytes: rows === 0 ? 0 : info.byteLength / rows };
}

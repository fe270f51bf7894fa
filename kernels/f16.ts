// f16 conversion on the CPU, for uploads and for references that round like the GPU.

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Rounds an f32 to the nearest f16 (ties to even), returning its bits. */
export function f32ToF16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // inf / nan
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let result = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    if (rest > half || (rest === half && (result & 1))) result++;
    return sign | result;
  }
  let result = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (result & 1))) result++; // may carry into exponent: fine
  return sign | result;
}

export function f16BitsToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * f16 bits of `values`, rounded to nearest even. V8's Float16Array (Deno ≥ 2.4) converts
 * natively, ~4× faster than the loop, with the same bits.
 */
export function toF16(values: Float32Array): Uint16Array {
  if (NativeFloat16Array) {
    return new Uint16Array(new NativeFloat16Array(values).buffer);
  }
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f32ToF16Bits(values[i]);
  return out;
}

/** f16 bit patterns → f32 values in `out`. */
export function widenF16(bits: Uint16Array, out: Float32Array): void {
  if (NativeFloat16Array) {
    out.set(new NativeFloat16Array(bits.buffer, bits.byteOffset, bits.length));
    return;
  }
  for (let i = 0; i < bits.length; i++) out[i] = f16BitsToF32(bits[i]);
}

/** The runtime's Float16Array, where it has one (not in every TypeScript lib yet). */
const NativeFloat16Array = (globalThis as {
  Float16Array?: new (
    source: ArrayLike<number> | ArrayBufferLike,
    byteOffset?: number,
    length?: number,
  ) => ArrayLike<number> & { buffer: ArrayBuffer };
}).Float16Array;

/** `values` rounded through f16 and back: what the GPU sees when weights are stored as f16. */
export function roundToF16(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = f16BitsToF32(f32ToF16Bits(values[i]));
  return out;
}

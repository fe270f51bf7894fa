// Writing GGUF v3 files (`gemma convert`, test fixtures): the header is built in memory (a Gemma
// header with its 256000-token vocabulary is ~6 MB), then the tensors are streamed piece by piece,
// each starting at a multiple of the alignment, so tensors larger than memory can be generated.
// The file is written to `path + ".tmp"` and renamed: a reader never sees a half-written file.

import { quantize } from "../kernels/quant.ts";
import { f32ToF16Bits } from "../kernels/gpu.ts";
import {
  alignUp,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_QUANT_TYPES,
  GGUF_TENSOR_TYPES,
  type GgufArray,
  type GgufTensorType,
  type GgufValue,
  VALUE_TYPES,
} from "./gguf_format.ts";
import { CheckpointError, f32ToBf16Bits, writeAll } from "./safetensors.ts";

export interface GgufTensorToWrite {
  name: string;
  type: GgufTensorType;
  /** PyTorch order, [out, in] for a projection; stored as dims [in, out]. */
  shape: number[];
  /**
   * f32 values, converted to `type` (F32/F16/BF16 round to nearest even; quant types
   * quantize with kernels/quant.ts); or the raw stored bytes (blocks for quantized types; any
   * listed type); or a function giving `count` f32 values from element `start` (always whole
   * rows), for tensors too large to hold.
   */
  data: Float32Array | Uint8Array | ((start: number, count: number) => Float32Array);
}

export interface WriteGgufOptions {
  /** Written in this order. `general.alignment` is added when `alignment` is not the default. */
  metadata: Iterable<[string, GgufValue]>;
  tensors: GgufTensorToWrite[];
  /** Tensor data alignment (a power of two; default: general.alignment if given, else 32). */
  alignment?: number;
}

/** Integer ranges of the number types narrower than 64 bits. */
const RANGES: Record<string, [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};
const F32_WRITABLE: readonly string[] = ["F32", "F16", "BF16", ...Object.keys(GGUF_QUANT_TYPES)];
/** f32 values converted per write: bounded memory for big tensors. */
const CHUNK_ELEMENTS = 1 << 20;

/** Writes a GGUF v3 file: typed metadata, then tensor infos, then aligned tensor data. */
export async function writeGguf(path: string, options: WriteGgufOptions): Promise<void> {
  const fail = (why: string): never => {
    throw new CheckpointError(`Cannot write "${path}": ${why}`);
  };
  const metadata = [...options.metadata];
  const keys = new Set<string>();
  for (const [key] of metadata) {
    if (keys.has(key)) fail(`duplicate metadata key "${key}"`);
    keys.add(key);
  }
  const given = metadata.find(([key]) => key === "general.alignment")?.[1];
  let alignment = options.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  if (given !== undefined) {
    if (given.type !== "u32") fail(`general.alignment must be a u32, got ${given.type}`);
    if (options.alignment !== undefined && given.value !== options.alignment) {
      fail(`general.alignment ${given.value} contradicts alignment ${options.alignment}`);
    }
    alignment = given.value as number;
  } else if (alignment !== GGUF_DEFAULT_ALIGNMENT) {
    metadata.push(["general.alignment", { type: "u32", value: alignment }]);
  }
  if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) {
    fail(`alignment must be a power of two, got ${alignment}`);
  }

  const header = new ByteWriter(fail);
  header.bytes(new TextEncoder().encode("GGUF"));
  header.u32(3);
  header.u64(options.tensors.length);
  header.u64(metadata.length);
  for (const [key, value] of metadata) {
    header.string(key);
    header.u32(VALUE_TYPES.indexOf(value.type.endsWith("[]") ? "array" : value.type as never));
    header.value(value, key);
  }
  // Tensor infos, with each tensor's offset in the data section (after the header's padding).
  const layout: { offset: number; byteLength: number; rowLength: number }[] = [];
  const names = new Set<string>();
  let cursor = 0;
  for (const t of options.tensors) {
    const bad = (why: string) => fail(`tensor "${t.name}" ${why}`);
    if (names.has(t.name)) bad("is written twice");
    names.add(t.name);
    const typeInfo = GGUF_TENSOR_TYPES[t.type] ?? bad(`has unknown type ${t.type}`);
    const [typeId, blockElements, blockBytes] = typeInfo;
    const shape = t.shape;
    if (
      shape.length < 1 || shape.length > 4 || !shape.every((n) => Number.isSafeInteger(n) && n >= 0)
    ) {
      bad(`has a bad shape [${shape.join(",")}] (1 to 4 dims)`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const rowLength = shape[shape.length - 1];
    if (rowLength % blockElements !== 0) {
      bad(`has rows of ${rowLength} values, not whole ${t.type} blocks of ${blockElements}`);
    }
    const byteLength = count / blockElements * blockBytes;
    if (t.data instanceof Uint8Array) {
      if (t.data.length !== byteLength) {
        bad(
          `has ${t.data.length} bytes of data but ${t.type} [${
            shape.join(",")
          }] needs ${byteLength}`,
        );
      }
    } else {
      if (!F32_WRITABLE.includes(t.type)) {
        bad(`cannot be made from f32 values as ${t.type}: pass raw bytes`);
      }
      if (t.data instanceof Float32Array && t.data.length !== count) {
        bad(`has ${t.data.length} values but shape [${shape.join(",")}]`);
      }
    }
    const offset = alignUp(cursor, alignment);
    cursor = offset + byteLength;
    layout.push({ offset, byteLength, rowLength });
    header.string(t.name);
    header.u32(shape.length);
    for (const n of shape.toReversed()) header.u64(n); // innermost first
    header.u32(typeId);
    header.u64(offset);
  }
  const dataStart = alignUp(header.length, alignment);
  header.bytes(new Uint8Array(dataStart - header.length));

  const tmp = path + ".tmp";
  try {
    {
      using file = await Deno.open(tmp, { write: true, create: true, truncate: true });
      await writeAll(file, header.result());
      let written = 0; // bytes of the data section so far
      for (const [i, t] of options.tensors.entries()) {
        const { offset, byteLength, rowLength } = layout[i];
        await writeAll(file, new Uint8Array(offset - written));
        written = offset + byteLength;
        if (t.data instanceof Uint8Array) {
          await writeAll(file, t.data);
          continue;
        }
        const count = t.shape.reduce((a, b) => a * b, 1);
        const step = Math.max(1, Math.floor(CHUNK_ELEMENTS / Math.max(1, rowLength))) * rowLength;
        for (let start = 0; start < count; start += step) {
          const n = Math.min(step, count - start);
          const part = typeof t.data === "function"
            ? t.data(start, n)
            : t.data.subarray(start, start + n);
          if (part.length !== n) {
            fail(`tensor "${t.name}": data(${start}, ${n}) gave ${part.length} values`);
          }
          await writeAll(file, encode(part, t.type));
        }
      }
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** f32 values as the stored bytes of `type` (one of F32_WRITABLE). */
function encode(values: Float32Array, type: GgufTensorType): Uint8Array {
  const quant = GGUF_QUANT_TYPES[type];
  if (quant) return quantize(quant, values);
  if (type === "F32") return new Uint8Array(values.slice().buffer);
  const out = new Uint16Array(values.length);
  const convert = type === "F16" ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]);
  return new Uint8Array(out.buffer);
}

/** A growable little-endian byte buffer for the header; range errors name the key. */
class ByteWriter {
  #buf = new Uint8Array(1 << 16);
  #view = new DataView(this.#buf.buffer);
  #encoder = new TextEncoder();
  length = 0;

  constructor(readonly fail: (why: string) => never) {}

  /** Makes room for n more bytes (maybe replacing #buf and #view); returns where they go. */
  #reserve(n: number): number {
    if (this.length + n > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(this.length + n, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(0, this.length));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    this.length += n;
    return this.length - n;
  }
  /** Reserves n bytes: the DataView to write them with, and where. */
  #room(n: number): [DataView, number] {
    const at = this.#reserve(n);
    return [this.#view, at];
  }
  result(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }
  bytes(b: Uint8Array): void {
    const at = this.#reserve(b.length); // before reading this.#buf
    this.#buf.set(b, at);
  }
  u32(v: number): void {
    const [view, at] = this.#room(4);
    view.setUint32(at, v, true);
  }
  u64(v: number): void {
    const [view, at] = this.#room(8);
    view.setBigUint64(at, BigInt(v), true);
  }
  string(s: string): void {
    const b = this.#encoder.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }

  /** A value's body (its type id is written by the caller: by the kv, or once per array). */
  value(v: GgufValue, key: string): void {
    const bad = (): never =>
      this.fail(`metadata "${key}" value ${String(v.value)} does not fit ${v.type}`);
    switch (v.type) {
      case "string":
        return this.string(v.value);
      case "bool":
        return this.bytes(new Uint8Array([v.value ? 1 : 0]));
      case "f32": {
        const [view, at] = this.#room(4);
        view.setFloat32(at, v.value, true);
        return;
      }
      case "f64": {
        const [view, at] = this.#room(8);
        view.setFloat64(at, v.value, true);
        return;
      }
      case "u64":
      case "i64": {
        const bits = v.type === "u64" ? BigInt.asUintN(64, v.value) : BigInt.asIntN(64, v.value);
        if (bits !== v.value) bad();
        const [view, at] = this.#room(8);
        view.setBigUint64(at, BigInt.asUintN(64, v.value), true);
        return;
      }
      case "u8":
      case "i8":
      case "u16":
      case "i16":
      case "u32":
      case "i32": {
        const [lo, hi] = RANGES[v.type];
        if (!Number.isInteger(v.value) || v.value < lo || v.value > hi) bad();
        const bytes = v.type.endsWith("8") ? 1 : v.type.endsWith("16") ? 2 : 4;
        const [view, at] = this.#room(bytes);
        if (bytes === 1) view.setUint8(at, v.value & 0xff);
        else if (bytes === 2) view.setUint16(at, v.value & 0xffff, true);
        else view.setUint32(at, v.value >>> 0, true);
        return;
      }
      default:
        return this.array(v, key);
    }
  }

  /** An array's item type id, count and items (nested arrays recurse). */
  array(v: GgufArray, key: string): void {
    const item = v.type.slice(0, -2);
    this.u32(VALUE_TYPES.indexOf(item as never));
    this.u64(v.value.length);
    if (v.type === "string[]") { for (const s of v.value) this.string(s); }
    else if (v.type === "array[]") { for (const a of v.value) this.array(a, key); }
    else if (v.type === "bool[]") this.bytes(Uint8Array.from(v.value, (b) => (b ? 1 : 0)));
    else this.bytes(new Uint8Array(v.value.buffer, v.value.byteOffset, v.value.byteLength));
  }
}

// GGUF: read a file's header (metadata + tensor infos) without touching the tensor data, and give
// typed access to metadata. The entry point for everything GGUF: it re-exports the types and tables
// (gguf_format.ts), the tensor readers (gguf_tensors.ts) and the writer (gguf_write.ts).
//
// The format (v2/v3, little-endian; spec: github.com/ggml-org/ggml docs/gguf.md):
//   "GGUF", u32 version, u64 tensor_count, u64 kv_count
//   kv_count × (string key, u32 value_type, value)
//   tensor_count × (string name, u32 n_dims, n_dims × u64 dims, u32 ggml_type, u64 offset)
//   zero padding up to a multiple of `general.alignment` (default 32), then the tensor data.
// A string is a u64 byte count + UTF-8 bytes (no NUL); an array is u32 item type + u64 count +
// items (items may be arrays: nested arrays). Tensor offsets are relative to the data start and
// multiples of the alignment. v1 used u32 counts and lengths; no Gemma GGUF is v1 and we refuse it.
//
// Nothing inside the header is aligned: an odd-length string shifts every later field, so all
// reads go through a DataView at arbitrary offsets. Dims are stored innermost first: a PyTorch
// weight [out, in] has dims [in, out], and its memory order is unchanged (row-major [out, in]).
// Quantized types store a row of `in` values as in / blockElements consecutive blocks.
//
// The header of a Gemma GGUF is ~6 MB (256000 tokens, their scores and types), so it is read in
// 1 MiB pieces with a synchronous fast path per item; tensors are only located and checked here.

import {
  alignUp,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_TENSOR_TYPES,
  type GgufArray,
  type GgufFile,
  type GgufTensorInfo,
  type GgufTensorType,
  type GgufValue,
  TYPED_ARRAYS,
  VALUE_BYTES,
  VALUE_TYPES,
} from "./gguf_format.ts";
import { CheckpointError } from "./safetensors.ts";

export * from "./gguf_format.ts";
export * from "./gguf_tensors.ts";
export * from "./gguf_write.ts";

const TYPE_BY_ID = new Map<number, GgufTensorType>(
  Object.entries(GGUF_TENSOR_TYPES).map(([name, [id]]) => [id, name as GgufTensorType]),
);
const MAX_DIMS = 4; // GGML_MAX_DIMS
const MAX_NESTING = 16; // array-of-array depth: real files use 1

// ---- header ----

/**
 * Reads and validates a GGUF header: magic, version 2 or 3, every metadata value, every tensor
 * info (known type, whole blocks per row, aligned offset) and that the file is long enough for
 * every tensor, so a truncated download fails here rather than half-way through loading.
 */
export async function readGguf(path: string): Promise<GgufFile> {
  const fail = (why: string): never => {
    throw new CheckpointError(`Cannot load "${path}": ${why}`);
  };
  let size = 0;
  try {
    size = (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail("no such file");
    throw e;
  }
  if (size < 24) fail(`file has ${size} bytes, too small for a GGUF header`);
  using file = await Deno.open(path);
  const r = new HeaderReader(file, path, size);
  await r.need(24);
  const magic = r.bytes(4);
  if (new TextDecoder().decode(magic) !== "GGUF") {
    const hex = [...magic].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    fail(`not a GGUF file (it starts with ${hex}, not "GGUF")`);
  }
  const version = r.u32();
  if (version === 0x02000000 || version === 0x03000000) fail("big-endian GGUF is not supported");
  if (version !== 2 && version !== 3) fail(`unsupported GGUF version ${version} (supported: 2, 3)`);
  const tensorCount = r.u64();
  const kvCount = r.u64();
  // The smallest kv is 13 bytes and the smallest tensor info 32: bound the counts by the size.
  if (kvCount * 13 + tensorCount * 32 > size) {
    fail(`bad header: ${tensorCount} tensors and ${kvCount} metadata keys in ${size} bytes`);
  }

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = await r.string();
    await r.need(4);
    const value = await r.value(r.u32(), key, 0);
    if (metadata.has(key)) fail(`duplicate metadata key "${key}"`);
    metadata.set(key, value);
  }
  const alignValue = metadata.get("general.alignment");
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if (alignValue !== undefined) {
    const a = alignValue.type === "u64" ? Number(alignValue.value) : alignValue.value;
    if (typeof a !== "number" || !Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) {
      fail(`general.alignment must be a power of two, got ${String(a)}`);
    }
    alignment = a as number;
  }

  const infos: { name: string; dims: number[]; type: GgufTensorType; offset: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const name = await r.string();
    await r.need(4);
    const nDims = r.u32();
    if (nDims < 1 || nDims > MAX_DIMS) fail(`tensor "${name}" has ${nDims} dims (1 to 4 allowed)`);
    await r.need(nDims * 8 + 12);
    const dims = Array.from({ length: nDims }, () => r.u64());
    const typeId = r.u32();
    const type = TYPE_BY_ID.get(typeId) ??
      fail(`tensor "${name}" has unknown tensor type ${typeId}`);
    const offset = r.u64();
    if (names.has(name)) fail(`duplicate tensor "${name}"`);
    names.add(name);
    infos.push({ name, dims, type, offset });
  }

  const dataStart = alignUp(r.offset, alignment);
  const tensors = infos.map(({ name, dims, type, offset }): GgufTensorInfo => {
    const [, blockElements, blockBytes] = GGUF_TENSOR_TYPES[type];
    if (dims[0] % blockElements !== 0) {
      fail(`tensor "${name}" has rows of ${dims[0]} values, not whole ${type} blocks`);
    }
    const count = dims.reduce((a, b) => a * b, 1);
    const byteLength = count / blockElements * blockBytes;
    if (offset % alignment !== 0) {
      fail(`tensor "${name}" has offset ${offset}, not a multiple of the alignment ${alignment}`);
    }
    const start = dataStart + offset;
    if (!Number.isSafeInteger(count) || start + byteLength > size) {
      throw new CheckpointError(
        `"${path}" is truncated: tensor "${name}" ends at byte ${start + byteLength} but the ` +
          `file has ${size} bytes`,
      );
    }
    const shape = dims.toReversed();
    return { name, type, dims, shape, path, offset: start, byteLength };
  });
  return { path, version, metadata, tensors, alignment };
}

/**
 * A forward-only reader over the header: a buffer of file bytes [start, start + end) with a read
 * position. Callers `await need(n)` before reading n bytes synchronously, and skip the await when
 * `available` already covers them (the per-token fast path of the vocabulary arrays).
 */
class HeaderReader {
  #buf = new Uint8Array(1 << 20);
  #view = new DataView(this.#buf.buffer);
  #start = 0;
  #pos = 0;
  #end = 0;
  // ignoreBOM: keep a leading U+FEFF (Gemma has pieces "\uFEFF//", "\uFEFF#", …).
  #decoder = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(readonly file: Deno.FsFile, readonly path: string, readonly size: number) {}

  get offset(): number {
    return this.#start + this.#pos;
  }
  get available(): number {
    return this.#end - this.#pos;
  }

  /** Makes n bytes available, reading more of the file (a short file is a CheckpointError). */
  async need(n: number): Promise<void> {
    if (this.#end - this.#pos >= n) return;
    if (this.offset + n > this.size) {
      throw new CheckpointError(
        `"${this.path}" is truncated: the header ends past the end of the file`,
      );
    }
    const kept = this.#end - this.#pos;
    if (n > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(n, this.#buf.length * 2));
      bigger.set(this.#buf.subarray(this.#pos, this.#end));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    } else {
      this.#buf.copyWithin(0, this.#pos, this.#end);
    }
    this.#start += this.#pos;
    this.#pos = 0;
    this.#end = kept;
    while (this.#end < n) {
      const got = await this.file.read(this.#buf.subarray(this.#end));
      if (got === null) throw new CheckpointError(`"${this.path}" changed while being read`);
      this.#end += got;
    }
  }

  u32(): number {
    const v = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return v;
  }
  /** A u64 count, length, dim or offset: anything past 2^53 cannot be a real size. */
  u64(): number {
    const lo = this.#view.getUint32(this.#pos, true);
    const hi = this.#view.getUint32(this.#pos + 4, true);
    if (hi > 0x1fffff) {
      throw new CheckpointError(
        `Cannot load "${this.path}": bad header: a u64 size at byte ${this.offset} is too large`,
      );
    }
    this.#pos += 8;
    return hi * 2 ** 32 + lo;
  }
  bytes(n: number): Uint8Array {
    this.#pos += n;
    return this.#buf.slice(this.#pos - n, this.#pos);
  }
  /** A string's body after its length was read and made available. */
  text(n: number): string {
    this.#pos += n;
    return this.#decoder.decode(this.#buf.subarray(this.#pos - n, this.#pos));
  }
  /** Checks a length read from the file against what is left of it. */
  checkLength(n: number, what: string): void {
    if (n > this.size - this.offset) {
      throw new CheckpointError(
        `"${this.path}" is truncated or corrupt: ${what} at byte ${this.offset} claims ${n} ` +
          `bytes but the file has ${this.size}`,
      );
    }
  }

  async string(): Promise<string> {
    await this.need(8);
    const n = this.u64();
    this.checkLength(n, "a string");
    await this.need(n);
    return this.text(n);
  }

  /** One metadata value of GGUF type id `code` (the id already read). */
  async value(code: number, key: string, depth: number): Promise<GgufValue> {
    const type = VALUE_TYPES[code];
    if (type === undefined) {
      throw new CheckpointError(
        `Cannot load "${this.path}": metadata "${key}" has unknown value type ${code}`,
      );
    }
    if (type === "string") return { type, value: await this.string() };
    if (type === "array") return await this.array(key, depth + 1);
    await this.need(VALUE_BYTES[type]);
    const v = this.#view;
    const at = this.#pos;
    this.#pos += VALUE_BYTES[type];
    // deno-fmt-ignore
    switch (type) {
      case "u8": return { type, value: v.getUint8(at) };
      case "i8": return { type, value: v.getInt8(at) };
      case "u16": return { type, value: v.getUint16(at, true) };
      case "i16": return { type, value: v.getInt16(at, true) };
      case "u32": return { type, value: v.getUint32(at, true) };
      case "i32": return { type, value: v.getInt32(at, true) };
      case "f32": return { type, value: v.getFloat32(at, true) };
      case "f64": return { type, value: v.getFloat64(at, true) };
      case "bool": return { type, value: v.getUint8(at) !== 0 };
      case "u64": return { type, value: v.getBigUint64(at, true) };
      case "i64": return { type, value: v.getBigInt64(at, true) };
    }
  }

  async array(key: string, depth: number): Promise<GgufArray> {
    if (depth > MAX_NESTING) {
      throw new CheckpointError(`Cannot load "${this.path}": metadata "${key}" nests too deeply`);
    }
    await this.need(12);
    const code = this.u32();
    const count = this.u64();
    const type = VALUE_TYPES[code];
    if (type === undefined) {
      throw new CheckpointError(
        `Cannot load "${this.path}": metadata "${key}" is an array of unknown value type ${code}`,
      );
    }
    if (type === "string" || type === "array") {
      // Every item takes at least 8 (string) or 12 (array) bytes: bound the allocation.
      this.checkLength(count * (type === "string" ? 8 : 12), `array "${key}"`);
      if (type === "array") {
        const items: GgufArray[] = [];
        for (let i = 0; i < count; i++) items.push(await this.array(key, depth + 1));
        return { type: "array[]", value: items };
      }
      const items = new Array<string>(count);
      for (let i = 0; i < count; i++) {
        if (this.available < 8) await this.need(8);
        const n = this.u64();
        if (this.available < n) {
          this.checkLength(n, `a string in "${key}"`);
          await this.need(n);
        }
        items[i] = this.text(n);
      }
      return { type: "string[]", value: items };
    }
    const n = count * VALUE_BYTES[type];
    this.checkLength(n, `array "${key}"`);
    await this.need(n);
    const raw = this.bytes(n); // a fresh, aligned copy: typed arrays view it directly
    if (type === "bool") return { type: "bool[]", value: Array.from(raw, (b) => b !== 0) };
    const value = new TYPED_ARRAYS[type](raw.buffer as ArrayBuffer, 0, count);
    return { type: `${type}[]`, value } as GgufArray;
  }
}

// ---- metadata access ----

/**
 * A numeric metadata value of any integer or float type as a number (u64/i64 converted), or
 * undefined when absent; a value of another type is a CheckpointError naming the key.
 */
export function ggufNumber(file: GgufFile, key: string): number | undefined {
  const v = file.metadata.get(key);
  if (v === undefined) return undefined;
  if (typeof v.value === "number") return v.value;
  if (typeof v.value === "bigint") return Number(v.value);
  throw wrongType(file, key, v, "a number");
}

export function ggufString(file: GgufFile, key: string): string | undefined {
  const v = file.metadata.get(key);
  if (v === undefined || v.type === "string") return v?.value;
  throw wrongType(file, key, v, "a string");
}

export function ggufBool(file: GgufFile, key: string): boolean | undefined {
  const v = file.metadata.get(key);
  if (v === undefined || v.type === "bool") return v?.value;
  throw wrongType(file, key, v, "a bool");
}

function wrongType(file: GgufFile, key: string, v: GgufValue, expected: string) {
  return new CheckpointError(
    `Cannot load "${file.path}": metadata "${key}" is ${v.type}, expected ${expected}`,
  );
}

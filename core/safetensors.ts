// Safetensors: read a file's header, stream its tensors as f32 rows, write files for tests.
//
// The format (https://huggingface.co/docs/safetensors): 8 bytes little-endian u64 `N`, then N bytes
// of JSON `{ name: { dtype, shape, data_offsets: [begin, end] }, …, "__metadata__"?: {…} }`, then the
// raw tensor data, row-major, little-endian. `data_offsets` are relative to the end of the header.
// Gemma checkpoints are BF16 (or F32/F16 after conversion); we hand every tensor to the rest of the
// engine as f32 and let the GPU loader pick its own storage type.
//
// Reading never pulls a whole file into memory: a 2B model is 5 GB and the embedding alone is 1 GB
// in BF16, so tensors are streamed in pieces of whole rows with Deno.open + seek + read.

import { f32ToF16Bits, widenF16 } from "../kernels/gpu.ts";

/** Every problem with a checkpoint file: one-line message naming the file (and tensor). */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

/** The dtypes we can read and write. Other dtypes may be listed in a header but not read. */
export type SafetensorsDType = "F32" | "F16" | "BF16";

export interface TensorInfo {
  name: string;
  /** As written in the header; may be one we cannot read (e.g. "I8"): checked when reading. */
  dtype: string;
  shape: number[];
  /** The file holding the tensor. */
  path: string;
  /** Absolute byte offset of the tensor's data in the file (8 + header length + begin). */
  offset: number;
  byteLength: number;
}

export interface ReadTensorRowsOptions {
  /** Upper bound on one piece's f32 output in bytes (default 16 MiB); at least one row per piece. */
  maxBytes?: number;
}

/** Bytes per element of every dtype the safetensors spec defines (used to check offsets). */
// deno-fmt-ignore
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};
const SUPPORTED: readonly string[] = ["F32", "F16", "BF16"];
/** A sane upper bound for the JSON header: real ones are a few hundred KB. */
const MAX_HEADER_BYTES = 100_000_000;

const shapeText = (shape: number[]) => `[${shape.join(",")}]`;
const elementCount = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Throws a CheckpointError unless `info.dtype` is one we read; shared with checkpoint validation. */
export function checkSupportedDType(info: TensorInfo): asserts info is TensorInfo & {
  dtype: SafetensorsDType;
} {
  if (!SUPPORTED.includes(info.dtype)) {
    throw new CheckpointError(
      `Cannot load "${info.path}": tensor "${info.name}" has unsupported dtype ${info.dtype} ` +
        `(supported: ${SUPPORTED.join(", ")})`,
    );
  }
}

/**
 * Reads and validates the header of a .safetensors file: the header length is sane, the JSON
 * parses, every entry's byte range matches dtype × shape, and the file is long enough to hold every
 * tensor (so a truncated download fails here, not half-way through loading). Returns the tensors
 * sorted by offset (file order, the fastest order to stream them in); `__metadata__` is skipped.
 */
export async function readSafetensorsHeader(path: string): Promise<TensorInfo[]> {
  const fail = (why: string): never => {
    throw new CheckpointError(`Cannot load "${path}": ${why}`);
  };
  let fileSize: number;
  try {
    fileSize = (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) fail("no such file");
    throw e;
  }
  if (fileSize! < 8) fail(`file has ${fileSize!} bytes, too small for a safetensors header`);
  using file = await Deno.open(path);
  const short = () => `"${path}" is truncated: the header ends past the end of the file`;
  const prefix = await readExactly(file, 8, short);
  const headerLength = new DataView(prefix.buffer).getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, fileSize! - 8))) {
    fail(
      `bad header length ${headerLength} (file has ${fileSize!} bytes); not a safetensors file?`,
    );
  }
  const n = Number(headerLength);
  const text = new TextDecoder().decode(await readExactly(file, n, short));
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    fail("header is not a JSON object");
  }
  const dataStart = 8 + n;
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    const bad = (why: string) => fail(`tensor "${name}" ${why}`);
    const { dtype, shape, data_offsets: range } = (entry ?? {}) as Record<string, unknown>;
    if (typeof dtype !== "string") bad("has no dtype");
    const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
    if (!Array.isArray(shape) || !shape.every(isCount)) bad("has a bad shape");
    if (!Array.isArray(range) || range.length !== 2 || !range.every(isCount)) {
      bad("has bad data_offsets");
    }
    const [begin, end] = range as [number, number];
    if (end < begin) bad(`has data_offsets [${begin},${end}] that end before they begin`);
    const size = DTYPE_BYTES[dtype as string];
    const expected = size === undefined ? end - begin : elementCount(shape as number[]) * size;
    if (end - begin !== expected) {
      bad(
        `has ${end - begin} bytes of data but ${dtype} ${shapeText(shape as number[])} needs ` +
          `${expected}`,
      );
    }
    if (dataStart + end > fileSize!) {
      throw new CheckpointError(
        `"${path}" is truncated: tensor "${name}" ends at byte ${dataStart + end} but the file ` +
          `has ${fileSize!} bytes`,
      );
    }
    tensors.push({
      name,
      dtype: dtype as string,
      shape: shape as number[],
      path,
      offset: dataStart + begin,
      byteLength: end - begin,
    });
  }
  return tensors.sort((a, b) => a.offset - b.offset);
}

/**
 * Streams a tensor as f32, in pieces of whole rows (a row is the last dimension; a 1-D tensor is
 * one row, a 0-D tensor one row of one element). Each piece's `values` is a fresh array the caller
 * may keep, ≤ maxBytes unless a single row is larger (rows are never split). F16 and BF16 are
 * widened exactly. `rowStart` is the index of the piece's first row.
 */
export async function* readTensorRows(
  info: TensorInfo,
  options: ReadTensorRowsOptions = {},
): AsyncGenerator<{ rowStart: number; values: Float32Array }> {
  checkSupportedDType(info);
  const rowLength = info.shape.length === 0 ? 1 : info.shape[info.shape.length - 1];
  const count = elementCount(info.shape);
  if (count === 0) return;
  const rows = count / rowLength;
  const maxBytes = options.maxBytes ?? 16 * 2 ** 20;
  const rowsPerPiece = Math.max(1, Math.floor(maxBytes / (rowLength * 4)));
  // The header check saw the file long enough; a short read now means it changed under us.
  const short = () =>
    `"${info.path}" is truncated: tensor "${info.name}" ends at byte ` +
    `${info.offset + info.byteLength} but the file ended early (changed since it was opened?)`;
  using file = await Deno.open(info.path);
  await file.seek(info.offset, Deno.SeekMode.Start);
  // One scratch buffer for the raw f16/bf16 bytes, reused across pieces (f32 is read in place).
  let scratch: Uint8Array<ArrayBuffer> | undefined;
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerPiece) {
    const n = Math.min(rowsPerPiece, rows - rowStart) * rowLength;
    const values = new Float32Array(n);
    if (info.dtype === "F32") {
      // Little-endian host assumed (x86, ARM): the file's bytes are already our floats.
      await readInto(file, new Uint8Array(values.buffer), short);
    } else {
      if (!scratch || scratch.length < n * 2) scratch = new Uint8Array(n * 2);
      const raw = scratch.subarray(0, n * 2);
      await readInto(file, raw, short);
      widenHalves(new Uint16Array(raw.buffer, 0, n), info.dtype, values);
    }
    yield { rowStart, values };
  }
}

/** The whole tensor as f32 (for small tensors, tests and the CPU reference model). */
export async function readTensor(info: TensorInfo): Promise<Float32Array> {
  const out = new Float32Array(elementCount(info.shape));
  const rowLength = info.shape.length === 0 ? 1 : info.shape[info.shape.length - 1];
  for await (const { rowStart, values } of readTensorRows(info)) {
    out.set(values, rowStart * rowLength);
  }
  return out;
}

/**
 * A tensor to write. `data` is all its values, or a function giving `count` values from element
 * `start`, so that tensors larger than memory (benchmark checkpoints) can be generated piecewise.
 */
export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array | ((start: number, count: number) => Float32Array);
}

/**
 * Writes a .safetensors file, converting f32 data to each tensor's dtype with round-to-nearest-even.
 * The header is padded with spaces so the data starts on an 8-byte boundary. Written to
 * `path + ".tmp"` and renamed, so a reader never sees a half-written file.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorToWrite[],
  metadata?: Record<string, string>,
): Promise<void> {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let end = 0;
  for (const t of tensors) {
    if (t.name === "__metadata__" || t.name in header) {
      throw new CheckpointError(`Cannot write "${path}": duplicate or reserved name "${t.name}"`);
    }
    if (!SUPPORTED.includes(t.dtype)) {
      throw new CheckpointError(`Cannot write "${path}": tensor "${t.name}" has dtype ${t.dtype}`);
    }
    const length = valueCount(t);
    if (elementCount(t.shape) !== length) {
      throw new CheckpointError(
        `Cannot write "${path}": tensor "${t.name}" has ${length} values but shape ` +
          `${shapeText(t.shape)}`,
      );
    }
    const begin = end;
    end += length * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [begin, end] };
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);

  const tmp = path + ".tmp";
  try {
    {
      using file = await Deno.open(tmp, { write: true, create: true, truncate: true });
      await writeAll(file, prefix);
      await writeAll(file, headerBytes);
      const CHUNK = 1 << 20; // elements converted per write: bounded memory for big tensors
      for (const t of tensors) {
        const length = valueCount(t);
        for (let i = 0; i < length; i += CHUNK) {
          const count = Math.min(CHUNK, length - i);
          const part = typeof t.data === "function"
            ? t.data(i, count)
            : t.data.subarray(i, i + count);
          await writeAll(file, encode(part, t.dtype));
        }
      }
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

function valueCount(t: TensorToWrite): number {
  return typeof t.data === "function" ? elementCount(t.shape) : t.data.length;
}

/** f32 → bf16 bits, round to nearest even (NaN stays a quiet NaN; overflow rounds to ±inf). */
export function f32ToBf16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16BitsToF32(bits: number): number {
  u32Scratch[0] = bits << 16;
  return f32Scratch[0];
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** f32 values as little-endian bytes of `dtype`. */
function encode(values: Float32Array, dtype: SafetensorsDType): Uint8Array<ArrayBuffer> {
  if (dtype === "F32") return new Uint8Array(values.slice().buffer);
  const out = new Uint16Array(values.length);
  const convert = dtype === "F16" ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < values.length; i++) out[i] = convert(values[i]);
  return new Uint8Array(out.buffer);
}

/** F16 or BF16 bit patterns → f32 values in `out` (shared with the GGUF reader). */
export function widenHalves(halves: Uint16Array, dtype: "F16" | "BF16", out: Float32Array): void {
  if (dtype === "BF16") {
    // BF16 is the top half of an f32: shift the bits into place.
    const bits = new Uint32Array(out.buffer, out.byteOffset, halves.length);
    for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16;
  } else {
    widenF16(halves, out);
  }
}

/** Fills `into` from the file's current position; a short file is a CheckpointError. */
export async function readInto(
  file: Deno.FsFile,
  into: Uint8Array,
  short: () => string,
): Promise<void> {
  for (let filled = 0; filled < into.length;) {
    const n = await file.read(into.subarray(filled));
    if (n === null) throw new CheckpointError(short());
    filled += n;
  }
}

async function readExactly(file: Deno.FsFile, n: number, short: () => string) {
  const out = new Uint8Array(n);
  await readInto(file, out, short);
  return out;
}

export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.length;) {
    written += await file.write(bytes.subarray(written));
  }
}

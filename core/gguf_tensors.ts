// GGUF tensor data: raw rows (blocks as stored, for GPU dequantization) and f32 rows (widened or
// dequantized on the CPU), streamed in pieces of whole rows like safetensors' readTensorRows.
// Locations and sizes come from readGguf, which already checked that every tensor fits the file.

import { dequantize } from "../kernels/quant.ts";
import { GGUF_QUANT_TYPES, ggufRows, type GgufTensorInfo } from "./gguf_format.ts";
import { CheckpointError, readInto, widenHalves } from "./safetensors.ts";

/** The types readGgufTensorRows turns into f32 (check a checkpoint's tensors against it early). */
export const GGUF_READABLE_TYPES: readonly string[] = [
  "F32",
  "F16",
  "BF16",
  ...Object.keys(GGUF_QUANT_TYPES),
];

export interface ReadGgufTensorRowsOptions {
  /** Upper bound on one piece's f32 output in bytes (default 16 MiB); at least one row per piece. */
  maxBytes?: number;
}

/**
 * The raw stored bytes of rows [rowStart, rowStart + rowCount): for F16 two bytes per value, for
 * a quantized type rowLength / blockElements whole blocks per row (hand them to a GPU dequantizer
 * as they are). Any listed type can be read raw.
 */
export async function readGgufTensorBytes(
  info: GgufTensorInfo,
  rowStart: number,
  rowCount: number,
): Promise<Uint8Array> {
  const { rows, rowBytes } = ggufRows(info);
  const ok = (n: number) => Number.isInteger(n) && n >= 0;
  if (!ok(rowStart) || !ok(rowCount) || rowStart + rowCount > rows) {
    throw new RangeError(
      `tensor "${info.name}" has ${rows} rows; cannot read ${rowCount} from row ${rowStart}`,
    );
  }
  using file = await Deno.open(info.path);
  await file.seek(info.offset + rowStart * rowBytes, Deno.SeekMode.Start);
  const out = new Uint8Array(rowCount * rowBytes);
  await readRange(file, out, info);
  return out;
}

/**
 * Streams a tensor as f32 in pieces of whole rows, like readTensorRows for safetensors: each
 * piece's `values` is a fresh array the caller may keep, ≤ maxBytes unless one row is larger.
 * F16/BF16 widen exactly; the quant types dequantize exactly as llama.cpp does.
 */
export async function* readGgufTensorRows(
  info: GgufTensorInfo,
  options: ReadGgufTensorRowsOptions = {},
): AsyncGenerator<{ rowStart: number; values: Float32Array }> {
  if (!GGUF_READABLE_TYPES.includes(info.type)) {
    throw new CheckpointError(
      `Cannot load "${info.path}": tensor "${info.name}" has unsupported tensor type ` +
        `${info.type} (supported: ${GGUF_READABLE_TYPES.join(", ")})`,
    );
  }
  const { rows, rowLength, rowBytes } = ggufRows(info);
  if (rows * rowLength === 0) return;
  const rowsPerPiece = Math.max(
    1,
    Math.floor((options.maxBytes ?? 16 * 2 ** 20) / (rowLength * 4)),
  );
  using file = await Deno.open(info.path);
  await file.seek(info.offset, Deno.SeekMode.Start);
  let scratch: Uint8Array | undefined; // raw bytes of non-f32 types, reused across pieces
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerPiece) {
    const pieceRows = Math.min(rowsPerPiece, rows - rowStart);
    const n = pieceRows * rowLength;
    if (info.type === "F32") {
      // Little-endian host assumed (x86, ARM): the file's bytes are already our floats.
      const values = new Float32Array(n);
      await readRange(file, new Uint8Array(values.buffer), info);
      yield { rowStart, values };
      continue;
    }
    const size = pieceRows * rowBytes;
    if (!scratch || scratch.length < size) scratch = new Uint8Array(size);
    const raw = scratch.subarray(0, size);
    await readRange(file, raw, info);
    const quant = GGUF_QUANT_TYPES[info.type];
    if (quant) {
      yield { rowStart, values: dequantize(quant, raw, n) };
      continue;
    }
    const values = new Float32Array(n);
    widenHalves(new Uint16Array(raw.buffer, 0, n), info.type as "F16" | "BF16", values);
    yield { rowStart, values };
  }
}

/** The whole tensor as f32 (small tensors, tests, the CPU reference model). */
export async function readGgufTensor(info: GgufTensorInfo): Promise<Float32Array> {
  const out = new Float32Array(info.dims.reduce((a, b) => a * b, 1));
  for await (const { rowStart, values } of readGgufTensorRows(info)) {
    out.set(values, rowStart * info.dims[0]);
  }
  return out;
}

/** Fills `into` from the file; readGguf saw it long enough, so a short read means it changed. */
function readRange(file: Deno.FsFile, into: Uint8Array, info: GgufTensorInfo): Promise<void> {
  return readInto(
    file,
    into,
    () =>
      `"${info.path}" is truncated: tensor "${info.name}" ends at byte ` +
      `${info.offset + info.byteLength} but the file ended early (changed since it was opened?)`,
  );
}

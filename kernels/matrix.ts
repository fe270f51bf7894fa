// A weight matrix on the GPU, stored row-major as [rows, cols] (PyTorch's [out, in]) and split
// into row chunks so that no chunk is larger than one storage binding may be. Gemma's
// 256000×2048 embedding is 1 GiB in f16, eight times lavapipe's 128 MiB binding limit.
//
// Weights are f32, f16, or one of GGUF's block-quantized types (quant.ts), which stay quantized on
// the GPU: the kernels decode blocks in registers. A quantized row is cols / B consecutive blocks
// (B = 32 or 256 values along the input dimension). GGUF's blocks (18, 22, 34, 210 bytes…) cannot
// be read as aligned 32-bit words in place; at upload each block is split into its quant bytes
// (`chunk.buffer`, a multiple of 16 bytes per block), its f16 scales (`chunk.scales`) and, for
// the 5-bit formats, its u32 of fifth bits (`chunk.high`). Same bytes, rearranged: see
// QUANT_LAYOUTS.

import { type DType, GpuContext, GpuError, toF16 } from "./gpu.ts";
import { BLOCK_BYTES, BLOCK_ELEMENTS, isQuantType, quantize, type QuantType } from "./quant.ts";

/** How a weight matrix is stored: plain f32 / f16 elements, or GGUF quantized blocks. */
export type WeightType = DType | QuantType;

export interface MatrixChunk {
  /** f32 / f16 elements, or the quant part of each block (QUANT_LAYOUTS). */
  buffer: GPUBuffer;
  /** Quantized types with separate scales: their f16 fields, `scaleStride` per row. */
  scales?: GPUBuffer;
  /** The 5-bit types: one u32 of fifth bits per block, blocks back to back (no row padding). */
  high?: GPUBuffer;
  /** A copy of `buffer` in a texture, which the decode matmuls read (weight_texture.ts). */
  texels?: { texture: GPUTexture; view: GPUTextureView };
  /** First row of the matrix held by this chunk. */
  rowStart: number;
  rows: number;
}

export interface GpuMatrix {
  rows: number;
  cols: number;
  dtype: WeightType;
  /**
   * Elements between the starts of two rows: `cols`, rounded up to even for f16 so that every
   * row starts on a 4-byte boundary (WebGPU writes and copies work in 4-byte units). For quantized
   * types `cols` (see `quantRowLayout` for the byte strides).
   */
  stride: number;
  chunks: MatrixChunk[];
  /** Bytes on the GPU. */
  bytes: number;
  /**
   * Quantized weights that may be rounded to f16 (the model's dtype is f16): a long prefill
   * decodes them to f16 once per call for a float GEMM (matmul_dequant.ts).
   */
  roundsToF16?: boolean;
}

/**
 * The GPU layout of one GGUF block: bytes [quantOffset, quantOffset + quantBytes) of the block
 * go to `chunk.buffer` (blocks back to back; bytes past the block's end are zeros), the 16-bit
 * fields at `scaleOffsets` (in that order) to `chunk.scales`, and the u32 at `highOffset` (if
 * any) to `chunk.high`. quantBytes is a multiple of 16, so every block starts on a vec4<u32>.
 * Every stream is read as aligned words; nothing is padded but a row of scales to an even count
 * (and the quant part of a block that would not be whole words otherwise), so the GPU holds the
 * file's bits per weight.
 *
 *   q8_0    32 B  the i8 quants                + f16 d             (34 B / 32 values: 8.5 bits)
 *   q4_0    16 B  the nibbles                  + f16 d             (18 B / 32 values: 4.5 bits)
 *   q5_0    16 B  the nibbles                  + f16 d + u32 qh    (22 B / 32 values: 5.5 bits)
 *   q4_1    16 B  the nibbles                  + f16 d, m          (20 B / 32 values: 5 bits)
 *   q5_1    16 B  the nibbles                  + f16 d, m + u32 qh (24 B / 32 values: 6 bits)
 *   iq4_nl  16 B  the nibbles (table indices)  + f16 d             (18 B / 32 values: 4.5 bits)
 *   q4_k   144 B  the whole block (d, dmin, scales, nibbles: 9·16) (144 B / 256 values: 4.5 bits)
 *   q6_k   208 B  ql, qh and the i8 scales     + f16 d             (210 B / 256: 6.5625 bits)
 *   q5_k   176 B  the whole block (d, dmin, scales, qh, nibbles: 11·16)   (176 B / 256: 5.5 bits)
 *   q3_k   112 B  the whole block and 2 zero bytes: 1.8% more to read (3.5 bits, not 3.4375) than
 *                 its 12 bytes of scales and d kept apart, which would be 14 B a block, not words
 *   q2_k    80 B  scales and codes             + f16 d, dmin       (84 B / 256: 2.625 bits)
 *   iq4_xs 128 B  the nibbles        + d, scales_h, scales_l (16-bit)  (136 B / 256: 4.25 bits)
 *
 * The fifth bits could not join the quant part without breaking its 16-byte blocks (or tying
 * units to groups of 4 blocks); a stream of their own costs one binding and no bytes. The 32-value
 * formats with a high stream have one vec4 of quants per block, so the kernels find block b's
 * word at the block's vec4 index (`Row.w + b`) and need no stride of its own.
 */
export const QUANT_LAYOUTS: Readonly<
  Record<QuantType, {
    quantOffset: number;
    quantBytes: number;
    scaleOffsets: readonly number[];
    highOffset: number | null;
  }>
> = {
  q8_0: { quantOffset: 2, quantBytes: 32, scaleOffsets: [0], highOffset: null },
  q4_0: { quantOffset: 2, quantBytes: 16, scaleOffsets: [0], highOffset: null },
  q5_0: { quantOffset: 6, quantBytes: 16, scaleOffsets: [0], highOffset: 2 },
  q4_1: { quantOffset: 4, quantBytes: 16, scaleOffsets: [0, 2], highOffset: null },
  q5_1: { quantOffset: 8, quantBytes: 16, scaleOffsets: [0, 2], highOffset: 4 },
  iq4_nl: { quantOffset: 2, quantBytes: 16, scaleOffsets: [0], highOffset: null },
  q4_k: { quantOffset: 0, quantBytes: 144, scaleOffsets: [], highOffset: null },
  q6_k: { quantOffset: 0, quantBytes: 208, scaleOffsets: [208], highOffset: null },
  q5_k: { quantOffset: 0, quantBytes: 176, scaleOffsets: [], highOffset: null },
  q3_k: { quantOffset: 0, quantBytes: 112, scaleOffsets: [], highOffset: null },
  q2_k: { quantOffset: 0, quantBytes: 80, scaleOffsets: [80, 82], highOffset: null },
  iq4_xs: { quantOffset: 8, quantBytes: 128, scaleOffsets: [0, 2, 4, 6], highOffset: null },
};

/** Per-row sizes of a quantized matrix on the GPU. */
export interface QuantRowLayout {
  /** Blocks per row. */
  blocks: number;
  /** Bytes of quant data per row in `chunk.buffer`. */
  quantBytes: number;
  /**
   * f16 scales between row starts in `chunk.scales`: blocks times the f16 fields per block,
   * rounded up to even, so that rows start on 4-byte boundaries and kernels can read the scales
   * of a pair of blocks as one word (0 if the type has no separate scales).
   */
  scaleStride: number;
  /** u32 words of fifth bits per row in `chunk.high` (0 if the type has none). */
  highWords: number;
  /** Bytes of one row of a GGUF file (blocks · BLOCK_BYTES). */
  ggufBytes: number;
}

export function quantRowLayout(type: QuantType, cols: number): QuantRowLayout {
  const blocks = cols / BLOCK_ELEMENTS[type];
  const layout = QUANT_LAYOUTS[type];
  return {
    blocks,
    quantBytes: blocks * layout.quantBytes,
    scaleStride: roundUpToEven(blocks * layout.scaleOffsets.length),
    highWords: layout.highOffset === null ? 0 : blocks,
    ggufBytes: blocks * BLOCK_BYTES[type],
  };
}

function roundUpToEven(n: number): number {
  return n + (n % 2);
}

export function isQuantized(matrix: GpuMatrix): matrix is GpuMatrix & { dtype: QuantType } {
  return isQuantType(matrix.dtype);
}

export function bytesPerElement(dtype: DType): number {
  return dtype === "f16" ? 2 : 4;
}

/**
 * Allocates a zero-filled `rows × cols` matrix, chunked to fit `gpu.maxBindingBytes` (every
 * binding of a chunk, quant part and scales alike, stays within it). Quantized types need `cols`
 * to be a whole number of blocks; they do not need shader-f16.
 */
export function createMatrix(
  gpu: GpuContext,
  rows: number,
  cols: number,
  dtype: WeightType,
  label = "matrix",
): GpuMatrix {
  if (isQuantType(dtype)) return createQuantizedMatrix(gpu, rows, cols, dtype, label);
  if (dtype === "f16" && !gpu.hasF16) {
    throw new GpuError(`Cannot store ${label} as f16: the device has no shader-f16`);
  }
  const stride = floatStride(cols, dtype);
  const rowBytes = stride * bytesPerElement(dtype);
  const rowsPerChunk = Math.floor(Math.min(gpu.maxBindingBytes, gpu.maxBufferBytes) / rowBytes);
  if (rowsPerChunk < 1) {
    throw new GpuError(
      `Cannot store ${label}: one row of ${rowBytes} bytes exceeds the device's binding limit of ${gpu.maxBindingBytes} bytes`,
    );
  }
  const chunks: MatrixChunk[] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - rowStart);
    chunks.push({
      buffer: gpu.createBuffer(n * rowBytes, `${label}[${rowStart}:${rowStart + n}]`),
      rowStart,
      rows: n,
    });
  }
  return { rows, cols, dtype, stride, chunks, bytes: matrixBytes(rows, cols, dtype) };
}

/** Bytes a rows × cols matrix of `type` takes on the GPU, in the layout createMatrix makes. */
export function matrixBytes(rows: number, cols: number, type: WeightType): number {
  if (isQuantType(type)) {
    const row = quantRowLayout(type, cols);
    return rows * (row.quantBytes + row.scaleStride * 2 + row.highWords * 4);
  }
  return rows * floatStride(cols, type) * bytesPerElement(type);
}

/** Elements between f32/f16 rows: f16 rows are padded to even so that each starts on 4 bytes. */
function floatStride(cols: number, dtype: DType): number {
  return dtype === "f16" ? cols + (cols % 2) : cols;
}

function createQuantizedMatrix(
  gpu: GpuContext,
  rows: number,
  cols: number,
  type: QuantType,
  label: string,
): GpuMatrix {
  const block = BLOCK_ELEMENTS[type];
  if (cols % block !== 0 || cols === 0) {
    throw new GpuError(
      `Cannot store ${label} as ${type}: its ${cols} columns are not a whole number of ${block}-value blocks`,
    );
  }
  const row = quantRowLayout(type, cols);
  const rowsPerChunk = Math.floor(
    Math.min(gpu.maxBindingBytes, gpu.maxBufferBytes) / row.quantBytes,
  );
  if (rowsPerChunk < 1) {
    throw new GpuError(
      `Cannot store ${label}: one ${type} row of ${row.quantBytes} bytes exceeds the device's binding limit of ${gpu.maxBindingBytes} bytes`,
    );
  }
  const chunks: MatrixChunk[] = [];
  for (let rowStart = 0; rowStart < rows; rowStart += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - rowStart);
    const name = `${label}[${rowStart}:${rowStart + n}]`;
    chunks.push({
      buffer: gpu.createBuffer(n * row.quantBytes, name),
      scales: row.scaleStride
        ? gpu.createBuffer(n * row.scaleStride * 2, `${name} scales`)
        : undefined,
      high: row.highWords ? gpu.createBuffer(n * row.highWords * 4, `${name} high`) : undefined,
      rowStart,
      rows: n,
    });
  }
  return { rows, cols, dtype: type, stride: cols, chunks, bytes: matrixBytes(rows, cols, type) };
}

/**
 * Writes `values` (a whole number of rows, row-major, f32) into `matrix` from row `rowStart`,
 * converting to the matrix's dtype. Loaders call this piece by piece while streaming a file.
 * Quantized matrices are quantized on the CPU first (quant.ts: q8_0, q4_0, q5_0, q4_1 and q5_1 as
 * llama.cpp's reference quantizers do; the K-quants, iq4_nl and iq4_xs with a simpler choice of
 * scales).
 */
export function writeMatrixRows(
  gpu: GpuContext,
  matrix: GpuMatrix,
  rowStart: number,
  values: Float32Array,
): void {
  const rowCount = checkRows(matrix, rowStart, values.length);
  if (isQuantized(matrix)) {
    writeQuantizedRows(gpu, matrix, rowStart, quantize(matrix.dtype, values));
    return;
  }
  writeFloatRows(gpu, matrix, rowStart, rowCount, (from, to) => {
    const piece = values.subarray(from * matrix.cols, to * matrix.cols);
    return matrix.dtype === "f16" ? toF16(piece) : piece;
  });
}

/**
 * Writes whole rows of an f16 matrix from f16 bit patterns (an F16 file's bytes as they are:
 * no conversion at all).
 */
export function writeMatrixF16Rows(
  gpu: GpuContext,
  matrix: GpuMatrix,
  rowStart: number,
  bits: Uint16Array,
): void {
  if (matrix.dtype !== "f16") throw new GpuError("writeMatrixF16Rows: not an f16 matrix");
  const rowCount = checkRows(matrix, rowStart, bits.length);
  writeFloatRows(
    gpu,
    matrix,
    rowStart,
    rowCount,
    (from, to) => bits.subarray(from * matrix.cols, to * matrix.cols),
  );
}

/** The rows `length` values make, checked to be whole and inside the matrix. */
function checkRows(matrix: GpuMatrix, rowStart: number, length: number): number {
  if (length % matrix.cols !== 0) throw new GpuError("writeMatrixRows: partial row");
  const rowCount = length / matrix.cols;
  if (rowStart < 0 || rowStart + rowCount > matrix.rows) {
    throw new GpuError("writeMatrixRows: rows out of range");
  }
  return rowCount;
}

/**
 * Writes rows [rowStart, rowStart + rowCount) of an f32/f16 matrix chunk by chunk; `piece(from,
 * to)` gives rows from … to − 1 (relative to rowStart) in the matrix's element type.
 */
function writeFloatRows(
  gpu: GpuContext,
  matrix: GpuMatrix,
  rowStart: number,
  rowCount: number,
  piece: (from: number, to: number) => Float32Array | Uint16Array,
): void {
  const { cols, stride } = matrix;
  const dtype = matrix.dtype as DType;
  for (const chunk of matrix.chunks) {
    const from = Math.max(rowStart, chunk.rowStart);
    const to = Math.min(rowStart + rowCount, chunk.rowStart + chunk.rows);
    if (from >= to) continue;
    let data = piece(from - rowStart, to - rowStart);
    if (stride !== cols) data = padRows(data, cols, stride);
    gpu.write(chunk.buffer, data, (from - chunk.rowStart) * stride * bytesPerElement(dtype));
  }
}

/**
 * Writes whole rows of raw GGUF blocks (as stored in a GGUF file, `cols / B` blocks per row) into
 * a quantized `matrix` from row `rowStart`, splitting each block into the GPU layout.
 */
export function writeQuantizedRows(
  gpu: GpuContext,
  matrix: GpuMatrix,
  rowStart: number,
  blocks: Uint8Array,
): void {
  if (!isQuantized(matrix)) {
    throw new GpuError(
      `writeQuantizedRows: the matrix holds ${matrix.dtype}, not quantized blocks`,
    );
  }
  const type = matrix.dtype;
  const row = quantRowLayout(type, matrix.cols);
  if (blocks.length % row.ggufBytes !== 0) {
    throw new GpuError(
      `writeQuantizedRows: ${blocks.length} bytes are not whole rows of ${row.ggufBytes} bytes (${row.blocks} ${type} blocks)`,
    );
  }
  const rowCount = blocks.length / row.ggufBytes;
  if (rowStart < 0 || rowStart + rowCount > matrix.rows) {
    throw new GpuError("writeQuantizedRows: rows out of range");
  }
  const { quantOffset, quantBytes, scaleOffsets, highOffset } = QUANT_LAYOUTS[type];
  const blockBytes = BLOCK_BYTES[type];
  // Past the block's end the quant part is padding (zeros).
  const copied = Math.min(quantBytes, blockBytes - quantOffset);
  for (const chunk of matrix.chunks) {
    const from = Math.max(rowStart, chunk.rowStart);
    const to = Math.min(rowStart + rowCount, chunk.rowStart + chunk.rows);
    if (from >= to) continue;
    const src = blocks.subarray((from - rowStart) * row.ggufBytes, (to - rowStart) * row.ggufBytes);
    const n = to - from;
    const blockCount = n * row.blocks;
    let quants = src;
    if (quantBytes !== blockBytes) {
      quants = new Uint8Array(n * row.quantBytes);
      // A plain byte loop: far faster than a subarray per (small) block.
      for (let b = 0; b < blockCount; b++) {
        const at = b * blockBytes + quantOffset;
        const to = b * quantBytes;
        for (let i = 0; i < copied; i++) quants[to + i] = src[at + i];
      }
    }
    gpu.write(chunk.buffer, quants, (from - chunk.rowStart) * row.quantBytes);
    if (scaleOffsets.length && chunk.scales) {
      // Rows of f16 scales padded to an even count, so each row starts on a 4-byte boundary.
      const scales = new Uint16Array(n * row.scaleStride);
      const fields = scaleOffsets.length;
      for (let r = 0; r < n; r++) {
        for (let b = 0; b < row.blocks; b++) {
          const block = (r * row.blocks + b) * blockBytes;
          for (let f = 0; f < fields; f++) {
            const at = block + scaleOffsets[f];
            scales[r * row.scaleStride + b * fields + f] = src[at] | (src[at + 1] << 8);
          }
        }
      }
      gpu.write(chunk.scales, scales, (from - chunk.rowStart) * row.scaleStride * 2);
    }
    if (highOffset !== null && chunk.high) {
      const high = new Uint8Array(blockCount * 4);
      for (let b = 0; b < blockCount; b++) {
        const at = b * blockBytes + highOffset;
        for (let i = 0; i < 4; i++) high[4 * b + i] = src[at + i];
      }
      gpu.write(chunk.high, high, (from - chunk.rowStart) * row.highWords * 4);
    }
  }
}

function padRows<T extends Float32Array | Uint16Array>(values: T, cols: number, stride: number): T {
  const rows = values.length / cols;
  const out =
    (values instanceof Float32Array
      ? new Float32Array(rows * stride)
      : new Uint16Array(rows * stride)) as T;
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * cols, (r + 1) * cols), r * stride);
  return out;
}

/** Uploads a whole row-major f32 matrix. */
export function uploadMatrix(
  gpu: GpuContext,
  values: Float32Array,
  rows: number,
  cols: number,
  dtype: WeightType,
  label?: string,
): GpuMatrix {
  if (values.length !== rows * cols) {
    throw new GpuError(`uploadMatrix: ${values.length} values for a ${rows}×${cols} matrix`);
  }
  const matrix = createMatrix(gpu, rows, cols, dtype, label);
  writeMatrixRows(gpu, matrix, 0, values);
  return matrix;
}

export function destroyMatrix(matrix: GpuMatrix): void {
  for (const chunk of matrix.chunks) {
    chunk.buffer.destroy();
    chunk.scales?.destroy();
    chunk.high?.destroy();
    chunk.texels?.texture.destroy();
  }
}

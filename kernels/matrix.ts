// A weight matrix on the GPU, stored row-major as [rows, cols] (PyTorch's [out, in]) and split
// into row chunks so that no chunk is larger than one storage binding may be. Gemma's
// 256000×2048 embedding is 1 GiB in f16, eight times lavapipe's 128 MiB binding limit.

import { type DType, GpuContext, GpuError, toF16 } from "./gpu.ts";

export interface MatrixChunk {
  buffer: GPUBuffer;
  /** First row of the matrix held by this chunk. */
  rowStart: number;
  rows: number;
}

export interface GpuMatrix {
  rows: number;
  cols: number;
  dtype: DType;
  /**
   * Elements between the starts of two rows: `cols`, rounded up to even for f16 so that every
   * row starts on a 4-byte boundary (WebGPU writes and copies work in 4-byte units).
   */
  stride: number;
  chunks: MatrixChunk[];
  /** Bytes on the GPU. */
  bytes: number;
}

export function bytesPerElement(dtype: DType): number {
  return dtype === "f16" ? 2 : 4;
}

/** Allocates a zero-filled `rows × cols` matrix, chunked to fit `gpu.maxBindingBytes`. */
export function createMatrix(
  gpu: GpuContext,
  rows: number,
  cols: number,
  dtype: DType,
  label = "matrix",
): GpuMatrix {
  if (dtype === "f16" && !gpu.hasF16) {
    throw new GpuError(`Cannot store ${label} as f16: the device has no shader-f16`);
  }
  const stride = dtype === "f16" ? cols + (cols % 2) : cols;
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
  return { rows, cols, dtype, stride, chunks, bytes: rows * rowBytes };
}

/**
 * Writes `values` (a whole number of rows, row-major, f32) into `matrix` from row `rowStart`,
 * converting to the matrix's dtype. Loaders call this piece by piece while streaming a file.
 */
export function writeMatrixRows(
  gpu: GpuContext,
  matrix: GpuMatrix,
  rowStart: number,
  values: Float32Array,
): void {
  const { cols, stride } = matrix;
  if (values.length % cols !== 0) throw new GpuError("writeMatrixRows: partial row");
  const rowCount = values.length / cols;
  if (rowStart < 0 || rowStart + rowCount > matrix.rows) {
    throw new GpuError("writeMatrixRows: rows out of range");
  }
  for (const chunk of matrix.chunks) {
    const from = Math.max(rowStart, chunk.rowStart);
    const to = Math.min(rowStart + rowCount, chunk.rowStart + chunk.rows);
    if (from >= to) continue;
    let piece = values.subarray((from - rowStart) * cols, (to - rowStart) * cols);
    if (stride !== cols) piece = padRows(piece, cols, stride);
    const data = matrix.dtype === "f16" ? toF16(piece) : piece;
    gpu.write(chunk.buffer, data, (from - chunk.rowStart) * stride * bytesPerElement(matrix.dtype));
  }
}

function padRows(values: Float32Array, cols: number, stride: number): Float32Array {
  const rows = values.length / cols;
  const out = new Float32Array(rows * stride);
  for (let r = 0; r < rows; r++) out.set(values.subarray(r * cols, (r + 1) * cols), r * stride);
  return out;
}

/** Uploads a whole row-major f32 matrix. */
export function uploadMatrix(
  gpu: GpuContext,
  values: Float32Array,
  rows: number,
  cols: number,
  dtype: DType,
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
  for (const chunk of matrix.chunks) chunk.buffer.destroy();
}

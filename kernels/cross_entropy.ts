// Cross-entropy of the tied output head over the whole vocabulary, on the GPU in chunks, never
// holding T × V logits: per row t, loss[t] = logsumexp_v z[t, v] − z[t, target_t] with
// z = softcap(h·Eᵀ), and the gradient of gradScale · Σ_t loss[t] with respect to h.
//
// For each chunk of C vocabulary rows [v0, v0 + C): the rows of E (any weight type) are copied
// into a one-chunk scratch matrix (a few MB: cheap next to the product), the (T, C) logits made
// by matmul, and cross_entropy.wgsl's `update` merges their max and sum of exponentials into
// per-row running stats. `finish` turns the stats into losses. The gradient is made in the same
// pass, as flash attention makes its output: `weights` turns the chunk's logits into
// exp(z − running max)·dz/da in place, and they · E_chunk are added into dh (see GradientPath for
// how) after `rescale` has moved dh to the new running max; at the end `combine` divides by the sum of exponentials and takes off the
// target's row of E (gathered by embed). One head product per chunk rather than two: a third of
// a Gemma 3 270M training step was the second one. Rows with target −1 have loss 0 and no
// gradient.

import {
  type Binding,
  GpuBatch,
  type GpuContext,
  GpuError,
  Uniforms,
  workgroupGrid,
} from "./gpu.ts";
import {
  bytesPerElement,
  createMatrix,
  destroyMatrix,
  type GpuMatrix,
  isQuantized,
  quantRowLayout,
} from "./matrix.ts";
import { matmul } from "./matmul.ts";
import { matmulTiledKMajor } from "./matmul_tiled.ts";
import { matmulFloatPrefill } from "./matmul_broadcast.ts";
import { matmulInputGrad } from "./matmul_backward.ts";
import { embed } from "./embedding.ts";
import source from "./cross_entropy.wgsl" with { type: "text" };
import tanhSource from "./tanh.wgsl" with { type: "text" };
import sumSource from "./workgroup_sum.wgsl" with { type: "text" };
import maxSource from "./workgroup_max.wgsl" with { type: "text" };

const WGSL = tanhSource + sumSource + maxSource + source;
const WG = 64;

export interface CrossEntropyOptions {
  /** Vocabulary rows per chunk (default: what keeps the chunk's logits near 32 MiB). */
  chunkRows?: number;
}

/** Scratch buffers of crossEntropy for T rows against one head matrix, reusable every step. */
export interface CrossEntropyWorkspace {
  rows: number;
  chunkRows: number;
  /** (T, chunkRows) f32 logits of one chunk. */
  logits: GPUBuffer;
  /** (T, 4) f32 running stats: max, sum, target logit, log-sum-exp. */
  stats: GPUBuffer;
  /** chunkRows rows of the head, in its weight type, one chunk. */
  head: GpuMatrix;
  /** How dh's product with a head chunk runs (see `gradientPath`). */
  gradient: GradientPath;
  /** "transposed": (D, chunkRows) f32, a head chunk decoded transposed (matmulInputGrad's scratch). */
  transposed?: GPUBuffer;
  /** "decoded": a head chunk decoded to f16, (chunkRows, D), for both products. */
  decoded?: GpuMatrix;
  /** "decoded": u32 vocabulary ids, chunk i's from element i · idStride (256-byte aligned). */
  ids?: GPUBuffer;
  idStride: number;
  /** (T, D) each row's target row of the head, for dh: f16 pairs for "decoded", else f32. */
  targetRows: GPUBuffer;
  /** Bytes of GPU memory held. */
  bytes: number;
  destroy(): void;
}

/**
 * How dh = dlogits · E_chunk runs:
 *   "decoded"     a quantized head that may be rounded to f16 (the model's dtype is f16): each
 *                 chunk is decoded to f16 once, the logits and dh both multiply that copy (dh
 *                 with matmulTiledKMajor, reading it as it lies);
 *   "kMajor"      an f32 / f16 head: dh multiplies the copied chunk as it lies;
 *   "transposed"  otherwise (a quantized head kept exact, D not a multiple of 8): the chunk is
 *                 decoded transposed to f32 (matmulInputGrad's scratch path).
 */
export type GradientPath = "decoded" | "kMajor" | "transposed";

function gradientPath(head: GpuMatrix, scratch: GpuMatrix): GradientPath {
  if (head.cols % 8 !== 0) return "transposed";
  if (isQuantized(head)) return head.roundsToF16 ? "decoded" : "transposed";
  return scratch.stride % 8 === 0 ? "kMajor" : "transposed";
}

/** Allocates the scratch buffers for `rows` rows of hidden states against `head`. */
export function createCrossEntropyWorkspace(
  gpu: GpuContext,
  head: GpuMatrix,
  rows: number,
  options: CrossEntropyOptions = {},
): CrossEntropyWorkspace {
  if (rows < 1) throw new GpuError("crossEntropy: no rows");
  const rowBytes = headRowBytes(head);
  const byLogits = Math.floor(Math.min(32 << 20, gpu.maxBindingBytes) / (rows * 4));
  const byHead = Math.floor(gpu.maxBindingBytes / rowBytes);
  const byTransposed = Math.floor(Math.min(64 << 20, gpu.maxBindingBytes) / (head.cols * 4));
  const chunkRows = Math.min(
    options.chunkRows ?? Math.min(byLogits, byTransposed),
    byLogits,
    byTransposed,
    byHead,
    head.rows,
  );
  if (chunkRows < 1) {
    throw new GpuError(`crossEntropy: ${rows} rows of logits do not fit one storage binding`);
  }
  const logits = gpu.createBuffer(rows * chunkRows * 4, "cross-entropy logits");
  const stats = gpu.createBuffer(rows * 16, "cross-entropy stats");
  const scratch = createMatrix(gpu, chunkRows, head.cols, head.dtype, "cross-entropy head chunk");
  if (scratch.chunks.length !== 1) throw new GpuError("crossEntropy: head chunk not one binding");
  // A quantized head whose values may be rounded to f16 lets matmul decode the chunk first.
  scratch.roundsToF16 = head.roundsToF16;
  const gradient = gradientPath(head, scratch);
  const transposed = gradient === "transposed"
    ? gpu.createBuffer(head.cols * chunkRows * 4, "cross-entropy head chunk ᵀ")
    : undefined;
  let decoded: GpuMatrix | undefined;
  let ids: GPUBuffer | undefined;
  // Chunk starts 64 ids apart at least: storage bindings start on 256 bytes.
  const idStride = Math.ceil(chunkRows / 64) * 64;
  if (gradient === "decoded") {
    decoded = createMatrix(gpu, chunkRows, head.cols, "f16", "cross-entropy decoded head chunk");
    if (decoded.chunks.length !== 1) throw new GpuError("crossEntropy: head chunk not one binding");
    const chunks = Math.ceil(head.rows / chunkRows);
    const all = new Uint32Array(chunks * idStride);
    for (let c = 0; c < chunks; c++) {
      for (let j = 0; j < chunkRows; j++) all[c * idStride + j] = c * chunkRows + j;
    }
    ids = gpu.upload(all, "cross-entropy vocabulary ids");
  }
  const targetBytes = rows * head.cols * (gradient === "decoded" ? 2 : 4);
  const targetRows = gpu.createBuffer(targetBytes, "cross-entropy target rows");
  return {
    rows,
    chunkRows,
    logits,
    stats,
    head: scratch,
    gradient,
    transposed,
    decoded,
    ids,
    idStride,
    targetRows,
    bytes:
      [logits, stats, transposed, ids, targetRows].reduce((sum, b) => sum + (b?.size ?? 0), 0) +
      scratch.bytes + (decoded?.bytes ?? 0),
    destroy() {
      logits.destroy();
      stats.destroy();
      transposed?.destroy();
      if (decoded) destroyMatrix(decoded);
      ids?.destroy();
      targetRows.destroy();
      destroyMatrix(scratch);
    },
  };
}

export interface CrossEntropyArgs {
  /** (T, D) f32 final hidden rows (after the final norm). */
  hidden: Binding;
  /** (V, D) tied output head (the embedding), any weight type. */
  head: GpuMatrix;
  /** (T) i32 target ids; −1: no loss on this row. */
  targets: Binding;
  /** (T) f32 output: each row's loss in nats (0 where masked). */
  loss: GPUBuffer;
  /** (T, D) f32 output, overwritten: d(gradScale · Σ loss) / d hidden. Omit for the loss only. */
  dHidden?: GPUBuffer;
  /** Multiplies the gradient (e.g. 1 / the number of targets, for the mean loss). */
  gradScale?: number;
  /** Gemma 2's final logit soft-cap (0 or undefined: none). */
  softcap?: number;
  workspace: CrossEntropyWorkspace;
  /** Rows to take, the first of each buffer (default: the workspace's). */
  rows?: number;
}

export function crossEntropy(batch: GpuBatch, args: CrossEntropyArgs): void {
  const { head, workspace: ws } = args;
  const rows = args.rows ?? ws.rows;
  if (!Number.isInteger(rows) || rows < 1 || rows > ws.rows) {
    throw new GpuError(`crossEntropy: ${rows} rows, the workspace holds 1 to ${ws.rows}`);
  }
  if (ws.head.cols !== head.cols || ws.head.dtype !== head.dtype) {
    throw new GpuError("crossEntropy: the workspace was made for another head matrix");
  }
  const gpu = batch.gpu;
  const params = (width: number, v0: number, first: boolean) =>
    new Uniforms().u32(rows).u32(width).u32(v0).u32(first ? 1 : 0).f32(args.softcap ?? 0)
      .f32(args.gradScale ?? 1);
  const chunks: [number, number][] = [];
  for (let v0 = 0; v0 < head.rows; v0 += ws.chunkRows) {
    chunks.push([v0, Math.min(ws.chunkRows, head.rows - v0)]);
  }
  const update = gpu.pipeline(WGSL, {}, "update");
  const dHidden = args.dHidden;
  const decodes = dHidden !== undefined && ws.gradient === "decoded";
  const perValue = (count: number) => workgroupGrid(gpu, Math.ceil(count / WG));
  chunks.forEach(([v0, width], i) => {
    // The chunk's rows of E as the products read them.
    const part = decodes
      ? decodeHeadRows(batch, head, i, width, ws)
      : copyHeadRows(batch, head, v0, width, ws.head);
    if (decodes) matmulFloatPrefill(batch, { x: args.hidden, w: part, y: ws.logits, rows });
    else matmul(batch, { x: args.hidden, w: part, y: ws.logits, rows });
    batch.dispatch(update, params(width, v0, i === 0), [args.targets, ws.stats, ws.logits], [rows]);
    if (!dHidden) return;
    batch.dispatch(
      gpu.pipeline(WGSL, {}, "weights"),
      params(width, v0, false),
      [args.targets, ws.stats, ws.logits],
      perValue(rows * width),
    );
    if (i > 0) {
      batch.dispatch(
        gpu.pipeline(WGSL, {}, "rescale"),
        params(head.cols, 0, false),
        [args.targets, ws.stats, dHidden],
        perValue(rows * head.cols),
      );
    }
    if (ws.gradient === "transposed") {
      matmulInputGrad(batch, {
        dy: ws.logits,
        w: part,
        dx: dHidden,
        rows,
        accumulate: i > 0,
        scratch: ws.transposed,
      });
    } else {
      matmulTiledKMajor(batch, { x: ws.logits, w: part, y: dHidden, rows, accumulate: i > 0 });
    }
  });
  batch.dispatch(
    gpu.pipeline(WGSL, {}, "finish"),
    params(0, 0, false),
    [args.targets, ws.stats, args.loss],
    [Math.ceil(rows / WG)],
  );
  if (!dHidden) return;
  // Masked rows' ids (−1) read as u32 lie past the vocabulary: embed leaves those rows alone.
  // Decoded to f16 where the products' copies are, so that both terms see the same weights.
  embed(batch, {
    ids: args.targets,
    table: head,
    y: ws.targetRows,
    rows,
    scale: 1,
    f16Output: decodes,
  });
  batch.dispatch(
    gpu.pipeline(WGSL, { TARGETS_F16: decodes ? 1 : 0 }, "combine"),
    params(head.cols, 0, false),
    [args.targets, ws.stats, dHidden, ws.targetRows],
    perValue(rows * head.cols),
  );
}

/** Decodes chunk `index` of the vocabulary (`width` rows) into the workspace's f16 matrix. */
function decodeHeadRows(
  batch: GpuBatch,
  head: GpuMatrix,
  index: number,
  width: number,
  ws: CrossEntropyWorkspace,
): GpuMatrix {
  const decoded = ws.decoded!;
  embed(batch, {
    ids: { buffer: ws.ids!, offset: index * ws.idStride * 4, size: width * 4 },
    table: head,
    y: decoded.chunks[0].buffer,
    rows: width,
    scale: 1,
    f16Output: true,
  });
  return { ...decoded, rows: width, chunks: [{ ...decoded.chunks[0], rows: width }] };
}

/** Bytes per row of each of a matrix's streams: elements or quants, scales, fifth bits. */
function streamRowBytes(m: GpuMatrix): [number, number, number] {
  if (isQuantized(m)) {
    const layout = quantRowLayout(m.dtype, m.cols);
    return [layout.quantBytes, layout.scaleStride * 2, layout.highWords * 4];
  }
  return [m.stride * bytesPerElement(m.dtype as "f32" | "f16"), 0, 0];
}

function headRowBytes(m: GpuMatrix): number {
  return Math.max(...streamRowBytes(m));
}

/**
 * Copies rows [v0, v0 + width) of `head` (across its chunks) to the start of `scratch`, and
 * returns a view of `scratch` with just those rows.
 */
function copyHeadRows(
  batch: GpuBatch,
  head: GpuMatrix,
  v0: number,
  width: number,
  scratch: GpuMatrix,
): GpuMatrix {
  const [quant, scales, high] = streamRowBytes(head);
  const target = scratch.chunks[0];
  for (const chunk of head.chunks) {
    const from = Math.max(v0, chunk.rowStart);
    const to = Math.min(v0 + width, chunk.rowStart + chunk.rows);
    if (from >= to) continue;
    const src = from - chunk.rowStart;
    const dst = from - v0;
    const n = to - from;
    batch.copy(chunk.buffer, src * quant, target.buffer, dst * quant, n * quant);
    if (chunk.scales && target.scales && scales) {
      batch.copy(chunk.scales, src * scales, target.scales, dst * scales, n * scales);
    }
    if (chunk.high && target.high && high) {
      batch.copy(chunk.high, src * high, target.high, dst * high, n * high);
    }
  }
  return { ...scratch, rows: width, chunks: [{ ...target, rows: width }] };
}

/** Per-row losses of softcap(h·Eᵀ) against targets (−1: 0), in f64. */
export function crossEntropyLossReference(
  hidden: ArrayLike<number>,
  head: ArrayLike<number>,
  targets: Int32Array,
  dim: number,
  softcap = 0,
): Float64Array {
  return crossEntropyReference(hidden, head, targets, dim, { softcap }).loss;
}

/**
 * Per-row losses and d(gradScale · Σ loss)/dh, in f64: p = softmax(z), dz = gradScale·(p − onehot),
 * da = dz · (1 − tanh²(a / cap)), dh = da · E.
 */
export function crossEntropyReference(
  hidden: ArrayLike<number>,
  head: ArrayLike<number>,
  targets: Int32Array,
  dim: number,
  options: { softcap?: number; gradScale?: number } = {},
): { loss: Float64Array; dHidden: Float64Array } {
  const rows = targets.length;
  const vocab = head.length / dim;
  const cap = options.softcap ?? 0;
  const scale = options.gradScale ?? 1;
  const loss = new Float64Array(rows);
  const dHidden = new Float64Array(rows * dim);
  const a = new Float64Array(vocab);
  const z = new Float64Array(vocab);
  for (let t = 0; t < rows; t++) {
    if (targets[t] < 0) continue;
    let top = -Infinity;
    for (let v = 0; v < vocab; v++) {
      let sum = 0;
      for (let i = 0; i < dim; i++) sum += hidden[t * dim + i] * head[v * dim + i];
      a[v] = sum;
      z[v] = cap ? cap * Math.tanh(sum / cap) : sum;
      top = Math.max(top, z[v]);
    }
    let total = 0;
    for (let v = 0; v < vocab; v++) total += Math.exp(z[v] - top);
    const lse = top + Math.log(total);
    loss[t] = lse - z[targets[t]];
    for (let v = 0; v < vocab; v++) {
      const slope = cap ? 1 - Math.tanh(a[v] / cap) ** 2 : 1;
      const g = scale * (Math.exp(z[v] - lse) - (v === targets[t] ? 1 : 0)) * slope;
      for (let i = 0; i < dim; i++) dHidden[t * dim + i] += g * head[v * dim + i];
    }
  }
  return { loss, dHidden };
}

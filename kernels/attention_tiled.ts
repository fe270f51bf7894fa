// Training's attention (no KV cache: each sequence's keys are its own rows) as tiled matrix
// products, for head dims that are multiples of 8. Per sequence and kv head, the group's queries
// (G heads of each row) are taken in blocks of rows; with Q, dO (the block's query rows, packed)
// and K, V (the sequence's keys, packed) the forward is
//   S = Q·Kᵀ                       matmulFloatPrefill (keys up to the block's last row only)
//   P = softmax(S)                  attention_scores.wgsl (soft-cap, causal and window masks)
//   O = P·V                         matmulTiledKMajor
// and the backward, recomputing S,
//   S = Q·Kᵀ, dP = dO·Vᵀ            matmulFloatPrefill
//   P, dS, Pᵀ, dSᵀ                  attention_scores_grad.wgsl
//   dQ = dS·K, dK += dSᵀ·Q, dV += Pᵀ·dO    matmulTiledKMajor
// attention_rows.wgsl packs and unpacks the rows. The per-query kernels (attention.wgsl,
// attention_backward.wgsl) load about two values per multiply-add on lavapipe, and the backward
// recomputes the scores in both of its passes; the products reuse each loaded value 8 times
// (Gemma 3 270M, 128 rows, 18 layers: backward 6.1 s → 0.66 s).

import {
  type Binding,
  GpuBatch,
  type GpuContext,
  GpuError,
  Uniforms,
  workgroupGrid,
} from "./gpu.ts";
import type { AttentionBackwardArgs, AttentionShape } from "./attention_backward.ts";
import { f32Matrix } from "./matmul_backward.ts";
import { matmulTiledKMajor } from "./matmul_tiled.ts";
import { matmulFloatPrefill } from "./matmul_broadcast.ts";
import rowsSource from "./attention_rows.wgsl" with { type: "text" };
import scoresGradSource from "./attention_scores_grad.wgsl" with { type: "text" };
import scoresSource from "./attention_scores.wgsl" with { type: "text" };
import softmaxSource from "./attention_softmax.wgsl" with { type: "text" };
import sumSource from "./workgroup_sum.wgsl" with { type: "text" };
import maxSource from "./workgroup_max.wgsl" with { type: "text" };
import tanhSource from "./tanh.wgsl" with { type: "text" };

const SOFTMAX_WGSL = tanhSource + sumSource + maxSource + softmaxSource;
const SCORES_WGSL = SOFTMAX_WGSL + scoresSource;
const SCORES_GRAD_WGSL = SOFTMAX_WGSL + scoresGradSource;
const ROWS_WG = 64;

/** The most bytes of one block's score matrix (the backward holds four). */
const BLOCK_BYTES = 16 << 20;

/** Scratch matrices of the tiled backward for sequences of up to `rows` rows. */
export interface AttentionTrainWorkspace {
  rows: number;
  /** Heads per kv head. */
  group: number;
  headDim: number;
  /** Rows of a sequence per query block: all of them, or a multiple of 64. */
  blockRows: number;
  /** (blockRows·G, D): the block's queries, output gradients, query gradients (forward: outputs). */
  q: GPUBuffer;
  dOut: GPUBuffer;
  dq: GPUBuffer;
  /** (T, D): the sequence's keys and values, and their gradients. */
  k: GPUBuffer;
  v: GPUBuffer;
  dk: GPUBuffer;
  dv: GPUBuffer;
  /** (blockRows·G, T): scores (forward: then P), dP then dS; (T, blockRows·G): Pᵀ and dSᵀ. */
  scores: GPUBuffer;
  dScores: GPUBuffer;
  probsT: GPUBuffer;
  dScoresT: GPUBuffer;
  /** Bytes of GPU memory held. */
  bytes: number;
  destroy(): void;
}

/** Whether the tiled products take this head dim (their tiles are 8 values wide). */
export function tilesHeadDim(headDim: number): boolean {
  return headDim % 8 === 0;
}

/** Rows per query block for sequences of `rows` rows and `group` heads per kv head. */
export function attentionBlockRows(rows: number, group: number, blockBytes = BLOCK_BYTES): number {
  if (rows * group * rows * 4 <= blockBytes) return rows;
  return Math.max(64, Math.floor(blockBytes / (group * rows * 4) / 64) * 64);
}

export function createAttentionTrainWorkspace(
  gpu: GpuContext,
  shape: { rows: number; heads: number; kvHeads: number; headDim: number },
  blockBytes = BLOCK_BYTES,
): AttentionTrainWorkspace {
  const { rows, headDim: D } = shape;
  if (!tilesHeadDim(D)) throw new GpuError(`attentionBackward: head dim ${D} is not tiled`);
  const group = shape.heads / shape.kvHeads;
  const blockRows = Math.min(rows, attentionBlockRows(rows, group, blockBytes));
  const queries = blockRows * group;
  const buffer = (values: number, label: string) =>
    gpu.createBuffer(values * 4, `attention backward ${label}`);
  const buffers = {
    q: buffer(queries * D, "queries"),
    dOut: buffer(queries * D, "output gradient"),
    dq: buffer(queries * D, "query gradient"),
    k: buffer(rows * D, "keys"),
    v: buffer(rows * D, "values"),
    dk: buffer(rows * D, "key gradient"),
    dv: buffer(rows * D, "value gradient"),
    scores: buffer(queries * rows, "scores"),
    dScores: buffer(queries * rows, "score gradient"),
    probsT: buffer(queries * rows, "probabilities ᵀ"),
    dScoresT: buffer(queries * rows, "score gradient ᵀ"),
  };
  return {
    rows,
    group,
    headDim: D,
    blockRows,
    ...buffers,
    bytes: Object.values(buffers).reduce((sum, b) => sum + b.size, 0),
    destroy() {
      for (const b of Object.values(buffers)) b.destroy();
    },
  };
}

function checkShape(ws: AttentionTrainWorkspace, rows: number, group: number, dim: number) {
  if (rows > ws.rows || group !== ws.group || dim !== ws.headDim) {
    throw new GpuError(
      `attention: the workspace holds ${ws.rows} rows of ${ws.group}-head groups of ${ws.headDim}, not ${rows} of ${group} of ${dim}`,
    );
  }
}

/** The block's m = rows·G queries of kv head g's group, from row rowBase of (·, H, D) tensors. */
function queryRows(m: number, D: number, H: number, G: number, g: number, rowBase: number): RowsAt {
  return { count: m, dim: D, group: G, width: H, rowBase, headBase: g * G };
}

/**
 * The Params of attention_scores.wgsl and attention_scores_grad.wgsl (which has no k0): m
 * queries from position t0 over n keys from position k0.
 */
function softmaxUniforms(
  m: number,
  n: number,
  G: number,
  t0: number,
  shape: Pick<AttentionShape, "scale" | "softcap" | "window">,
  k0 = 0,
): Uniforms {
  return new Uniforms().u32(m).u32(n).u32(G).u32(t0).f32(shape.scale).f32(shape.softcap ?? 0)
    .u32(shape.window ?? 0).u32(k0);
}

/** Which rows attention_rows.wgsl moves (see its header). */
interface RowsAt {
  count: number;
  dim: number;
  group: number;
  width: number;
  rowBase: number;
  headBase: number;
  ring?: number;
}

/** Packs (gather) or unpacks (scatter) `count` rows of one head group: attention_rows.wgsl. */
function moveRows(
  batch: GpuBatch,
  entry: "gather" | "scatter",
  src: Binding,
  dst: GPUBuffer,
  at: RowsAt,
): void {
  const uniforms = new Uniforms().u32(at.count).u32(at.dim).u32(at.group).u32(at.width)
    .u32(at.rowBase).u32(at.headBase).u32(at.ring ?? 0);
  batch.dispatch(
    batch.gpu.pipeline(rowsSource, {}, entry),
    uniforms,
    [src, dst],
    workgroupGrid(batch.gpu, Math.ceil(at.count * at.dim / ROWS_WG)),
  );
}

export function attentionBackwardTiled(
  batch: GpuBatch,
  args: AttentionBackwardArgs,
  ws: AttentionTrainWorkspace,
): void {
  const { rows: T, heads: H, kvHeads: KV, headDim: D } = args;
  const G = H / KV;
  checkShape(ws, T, G, D);
  const width = H + 2 * KV; // heads per row of dqkv
  const gpu = batch.gpu;
  const scores = gpu.pipeline(SCORES_GRAD_WGSL);
  for (let b = 0; b < (args.sequences ?? 1); b++) {
    for (let g = 0; g < KV; g++) {
      const keys = { count: T, dim: D, group: 1, width: KV, rowBase: b * T, headBase: g };
      moveRows(batch, "gather", args.k, ws.k, keys);
      moveRows(batch, "gather", args.v, ws.v, keys);
      // The last block first: it sees every key, so it overwrites dK and dV, which the earlier
      // blocks (fewer keys) add to.
      const starts = [];
      for (let t0 = 0; t0 < T; t0 += ws.blockRows) starts.push(t0);
      for (const t0 of starts.reverse()) {
        const blockRows = Math.min(ws.blockRows, T - t0);
        const n = t0 + blockRows; // keys up to the block's last row
        const m = blockRows * G;
        const queries = queryRows(m, D, H, G, g, b * T + t0);
        moveRows(batch, "gather", args.q, ws.q, queries);
        moveRows(batch, "gather", args.dOut, ws.dOut, queries);
        matmulFloatPrefill(batch, { x: ws.q, w: f32Matrix(ws.k, n, D), y: ws.scores, rows: m });
        matmulFloatPrefill(batch, { x: ws.dOut, w: f32Matrix(ws.v, n, D), y: ws.dScores, rows: m });
        batch.dispatch(
          scores,
          softmaxUniforms(m, n, G, t0, args),
          [ws.scores, ws.dScores, ws.probsT, ws.dScoresT],
          workgroupGrid(gpu, m),
        );
        const accumulate = t0 + blockRows < T;
        matmulTiledKMajor(batch, { x: ws.dScores, w: f32Matrix(ws.k, n, D), y: ws.dq, rows: m });
        matmulTiledKMajor(batch, {
          x: ws.dScoresT,
          w: f32Matrix(ws.q, m, D),
          y: ws.dk,
          rows: n,
          accumulate,
        });
        matmulTiledKMajor(batch, {
          x: ws.probsT,
          w: f32Matrix(ws.dOut, m, D),
          y: ws.dv,
          rows: n,
          accumulate,
        });
        moveRows(batch, "scatter", ws.dq, args.dqkv, { ...queries, width });
      }
      moveRows(batch, "scatter", ws.dk, args.dqkv, { ...keys, width, headBase: H + g });
      moveRows(batch, "scatter", ws.dv, args.dqkv, { ...keys, width, headBase: H + KV + g });
    }
  }
}

export interface AttentionForwardArgs extends AttentionShape {
  /** (B·T, H, D) f32 queries (normed, rotated). */
  q: Binding;
  /** (B·T, Hkv, D) f32 keys (normed, rotated) and values. */
  k: Binding;
  v: Binding;
  /** (B·T, H, D) f32 output. */
  out: GPUBuffer;
}

/** The training forward: out = softmax(scale·q·kᵀ, masked)·v per sequence (see the header). */
export function attentionForwardTiled(
  batch: GpuBatch,
  args: AttentionForwardArgs,
  ws: AttentionTrainWorkspace,
): void {
  const { rows: T, heads: H, kvHeads: KV, headDim: D } = args;
  const G = H / KV;
  checkShape(ws, T, G, D);
  const gpu = batch.gpu;
  const scores = gpu.pipeline(SCORES_WGSL);
  for (let b = 0; b < (args.sequences ?? 1); b++) {
    for (let g = 0; g < KV; g++) {
      const keys = { count: T, dim: D, group: 1, width: KV, rowBase: b * T, headBase: g };
      moveRows(batch, "gather", args.k, ws.k, keys);
      moveRows(batch, "gather", args.v, ws.v, keys);
      for (let t0 = 0; t0 < T; t0 += ws.blockRows) {
        const blockRows = Math.min(ws.blockRows, T - t0);
        const n = t0 + blockRows;
        const m = blockRows * G;
        const queries = queryRows(m, D, H, G, g, b * T + t0);
        moveRows(batch, "gather", args.q, ws.q, queries);
        matmulFloatPrefill(batch, { x: ws.q, w: f32Matrix(ws.k, n, D), y: ws.scores, rows: m });
        batch.dispatch(
          scores,
          softmaxUniforms(m, n, G, t0, args),
          [ws.scores],
          workgroupGrid(gpu, m),
        );
        matmulTiledKMajor(batch, { x: ws.scores, w: f32Matrix(ws.v, n, D), y: ws.dq, rows: m });
        moveRows(batch, "scatter", ws.dq, args.out, queries);
      }
    }
  }
}

/** Scratch of attentionPrefillTiled, per device, grown as needed. */
interface PrefillScratch {
  /** (queries, D): a block's queries, then its outputs. */
  q: GPUBuffer;
  out: GPUBuffer;
  /** (keys, D): the keys and values the block sees. */
  k: GPUBuffer;
  v: GPUBuffer;
  /** (queries, keys): scores, then probabilities. */
  scores: GPUBuffer;
}

const prefillScratches = new WeakMap<GpuContext, PrefillScratch>();

function prefillScratch(gpu: GpuContext, queries: number, keys: number, D: number): PrefillScratch {
  const held = prefillScratches.get(gpu);
  const fits = (b: GPUBuffer | undefined, values: number) =>
    b !== undefined && b.size >= values * 4;
  if (
    held && fits(held.q, queries * D) && fits(held.k, keys * D) &&
    fits(held.scores, queries * keys)
  ) {
    return held;
  }
  // Grown, never destroyed: a recorded batch may still use the old ones.
  const grow = (b: GPUBuffer | undefined, values: number, label: string) =>
    fits(b, values) ? b! : gpu.createBuffer(values * 4, `attention prefill ${label}`);
  const grown = {
    q: grow(held?.q, queries * D, "queries"),
    out: grow(held?.out, queries * D, "outputs"),
    k: grow(held?.k, keys * D, "keys"),
    v: grow(held?.v, keys * D, "values"),
    scores: grow(held?.scores, queries * keys, "scores"),
  };
  prefillScratches.set(gpu, grown);
  return grown;
}

/** What attentionPrefillTiled takes: attention's arguments for one sequence. */
export interface AttentionPrefillArgs extends Omit<AttentionShape, "sequences"> {
  /** (T, H, D) f32 queries, rotated. */
  q: Binding;
  /** (cacheRows, Hkv, D) f32 key and value caches: position j at row j mod cacheRows. */
  k: Binding;
  v: Binding;
  /** (T, H, D) f32 output. */
  out: GPUBuffer;
  /** The position of query row 0. */
  position0: number;
  /** Rows of a ring cache (undefined: every position has its own row). */
  cacheRows?: number;
}

/**
 * Prefill attention of T query rows over a KV cache, as attention.ts's kernel computes it, by
 * the tiled products of the header: per kv head and block of rows, the keys the block sees are
 * packed from the cache (ring rows unwrapped), then S = Q·Kᵀ, P = softmax(S), O = P·V.
 */
export function attentionPrefillTiled(batch: GpuBatch, args: AttentionPrefillArgs): void {
  const { rows: T, heads: H, kvHeads: KV, headDim: D, position0 } = args;
  const G = H / KV;
  const window = args.window ?? 0;
  const firstKey = (position: number) => window > 0 ? Math.max(0, position - window + 1) : 0;
  // Rows per block: as many as keep the block's scores within BLOCK_BYTES.
  const mostKeys = position0 + T - firstKey(position0);
  const blockRows = Math.max(1, Math.min(T, Math.floor(BLOCK_BYTES / 4 / (G * mostKeys))));
  const ws = prefillScratch(batch.gpu, blockRows * G, mostKeys, D);
  const scores = batch.gpu.pipeline(SCORES_WGSL);
  for (let g = 0; g < KV; g++) {
    for (let t0 = 0; t0 < T; t0 += blockRows) {
      const rows = Math.min(blockRows, T - t0);
      const first = firstKey(position0 + t0);
      const n = position0 + t0 + rows - first; // keys first … the block's last position
      const m = rows * G;
      const keys = { count: n, dim: D, group: 1, width: KV, rowBase: first, headBase: g };
      const ring = args.cacheRows ?? 0;
      moveRows(batch, "gather", args.k, ws.k, { ...keys, ring });
      moveRows(batch, "gather", args.v, ws.v, { ...keys, ring });
      const queries = queryRows(m, D, H, G, g, t0);
      moveRows(batch, "gather", args.q, ws.q, queries);
      matmulFloatPrefill(batch, { x: ws.q, w: f32Matrix(ws.k, n, D), y: ws.scores, rows: m });
      batch.dispatch(
        scores,
        softmaxUniforms(m, n, G, position0 + t0, args, first),
        [ws.scores],
        workgroupGrid(batch.gpu, m),
      );
      matmulTiledKMajor(batch, { x: ws.scores, w: f32Matrix(ws.v, n, D), y: ws.out, rows: m });
      moveRows(batch, "scatter", ws.out, args.out, queries);
    }
  }
}

// The Gemma forward pass on the GPU, top to bottom. One call records every kernel for `rows`
// new tokens into one GpuBatch (one submit): embedding → N × (attention block, MLP block) →
// final norm → tied output head for the rows whose logits are wanted.
//
//   h = E[ids] · √hidden
//   for each layer:
//     x = RMSNorm(h) · (1 + w)
//     q, k, v = x·Wqᵀ, x·Wkᵀ, x·Wvᵀ;  [Gemma 3: RMSNorm each head of q and k]
//     RoPE(q), RoPE(k) (per-layer base);  append k, v to the layer's KV cache
//     a = softmax(mask(softcap(q·kᵀ · scale))) · v · Woᵀ   [Gemma 2 soft-caps; local layers
//                                                           see only a sliding window]
//     h += a                       [Gemma 2/3: h += RMSNorm(a), the "sandwich" norm]
//     x = RMSNorm(h)
//     m = (gelu_tanh(x·Wgateᵀ) ⊙ x·Wupᵀ) · Wdownᵀ
//     h += m                       [Gemma 2/3: h += RMSNorm(m)]
//   logits = (RMSNorm(h) · (1 + w_final)) · Eᵀ   [Gemma 2: soft-capped at 30]

import type { GpuBatch } from "../kernels/gpu.ts";
import { pickToken, type SampleDraw } from "../kernels/pick_token.ts";
import { attention } from "../kernels/attention.ts";
import { attentionSplitK, maxVisibleKeys, preferSplitK } from "../kernels/attention_split.ts";
import { embed } from "../kernels/embedding.ts";
import { geluMul } from "../kernels/gelu_mul.ts";
import { matmul } from "../kernels/matmul.ts";
import { rmsNorm } from "../kernels/rms_norm.ts";
import { rope } from "../kernels/rope.ts";
import { add } from "../kernels/add.ts";
import { softcap } from "../kernels/softcap.ts";
import type { GpuMatrix } from "../kernels/matrix.ts";
import type { Gemma } from "./weights.ts";

/** GPU buffers for one sequence: its KV cache and the activations of up to `maxRows` tokens. */
export interface ForwardState {
  /**
   * Per layer, (cacheRows[layer], kvHeads·headDim) f32 keys and values; position p is at row
   * p mod cacheRows[layer]. Global layers have a row per position; sliding-window layers keep a
   * ring of window + maxRows rows, enough for every key a chunk of queries can see.
   */
  keys: GPUBuffer[];
  values: GPUBuffer[];
  cacheRows: number[];
  /** Positions the KV cache can hold (the context length). */
  capacity: number;
  /** Most tokens one forward call may process. */
  maxRows: number;
  ids: GPUBuffer; //     (maxRows) u32
  h: GPUBuffer; //       (maxRows, hidden) the residual stream
  x: GPUBuffer; //       (maxRows, hidden) normed input of a block
  x2: GPUBuffer; //      (maxRows, hidden) a block's output before its sandwich norm
  kRaw: GPUBuffer; //    (maxRows, kvHeads·headDim) keys before Gemma 3's k_norm
  q: GPUBuffer; //       (maxRows, heads·headDim)
  k: GPUBuffer; //       (maxRows, kvHeads·headDim)
  v: GPUBuffer; //       (maxRows, kvHeads·headDim)
  attended: GPUBuffer; // (maxRows, heads·headDim)
  gate: GPUBuffer; //    (maxRows, ff)
  up: GPUBuffer; //      (maxRows, ff)
  act: GPUBuffer; //     (maxRows, ff)
  /** (maxLogitRows, hidden): final-normed rows whose logits are wanted. */
  logitInput: GPUBuffer;
  /** (maxLogitRows, vocab) f32. */
  logits: GPUBuffer;
  maxLogitRows: number;
  /** u32[1]: the token picked from logits row 0 (see ForwardArgs.pick), so that decoding reads
   * back 4 bytes instead of the logits, or nothing at all (session.ts, decode). */
  picked: GPUBuffer;
  /** (⌈vocab / 32⌉) u32: the tokens a repetition penalty applies to (pick_token's `seen`). */
  seen: GPUBuffer;
  /** Partial results of split-K attention (see session.ts for its size). */
  attentionScratch: GPUBuffer;
  /** (maxLogitRows) u32 tokens to score and (maxLogitRows, 2) f32 their scores (session.ts). */
  targets: GPUBuffer;
  scores: GPUBuffer;
}

export interface ForwardArgs {
  /** Number of new tokens; their ids are already in `state.ids`. */
  rows: number;
  /** Position of the first new token (= tokens already in the KV cache). */
  position0: number;
  /** First row whose logits are computed (into logits row 0, 1, …). */
  logitsFrom: number;
  /** How many rows get logits (0 = none, e.g. a prefill chunk that is not the last). */
  logitRows: number;
  /** Also pick a token from logits row 0 into `state.picked`. */
  pick?: TokenPick;
}

/** How a token is picked: the argmax, or a sample; either after a repetition penalty. */
export interface TokenPick {
  sample?: SampleDraw;
  /** Over the tokens marked in `state.seen` (default 1: none). */
  repetitionPenalty?: number;
}

export function recordForward(
  batch: GpuBatch,
  model: Gemma,
  state: ForwardState,
  args: ForwardArgs,
): void {
  const c = model.config;
  const w = model.weights;
  const { rows, position0 } = args;
  const d = c.hiddenSize;
  const kvWidth = c.numKvHeads * c.headDim;

  // The embedding scale is √hidden rounded to the activation dtype (f32 here).
  batch.mark("embedding");
  embed(batch, {
    ids: state.ids,
    table: w.embed,
    y: state.h,
    rows,
    scale: Math.fround(Math.sqrt(d)),
  });

  const norm = (x: GPUBuffer, weight: GPUBuffer, y: GPUBuffer, n = rows, dim = d) =>
    rmsNorm(batch, { x, weight, y, rows: n, dim, eps: c.rmsNormEps });
  /** h += input·Wᵀ, or with a sandwich norm (Gemma 2/3) h += RMSNorm(input·Wᵀ). */
  const addToResidual = (input: GPUBuffer, weight: GpuMatrix, outNorm?: GPUBuffer) => {
    if (!outNorm) {
      matmul(batch, { x: input, w: weight, y: state.h, rows, accumulate: true });
      return;
    }
    matmul(batch, { x: input, w: weight, y: state.x2, rows });
    batch.mark("rms norm");
    norm(state.x2, outNorm, state.x);
    batch.mark("residual add");
    add(batch, { x: state.h, y: state.x, count: rows * d });
  };

  for (let layer = 0; layer < c.numLayers; layer++) {
    const lw = w.layers[layer];

    // Attention block.
    batch.mark("rms norm");
    norm(state.h, lw.attnNorm, state.x);
    batch.mark("q, k, v projections", lw.q.bytes + lw.k.bytes + lw.v.bytes);
    if (lw.qNorm && lw.kNorm) {
      matmul(batch, { x: state.x, w: lw.q, y: state.attended, rows });
      matmul(batch, { x: state.x, w: lw.k, y: state.kRaw, rows });
      batch.mark("q, k norms");
      norm(state.attended, lw.qNorm, state.q, rows * c.numHeads, c.headDim);
      norm(state.kRaw, lw.kNorm, state.k, rows * c.numKvHeads, c.headDim);
      batch.mark("q, k, v projections");
    } else {
      matmul(batch, { x: state.x, w: lw.q, y: state.q, rows });
      matmul(batch, { x: state.x, w: lw.k, y: state.k, rows });
    }
    matmul(batch, { x: state.x, w: lw.v, y: state.v, rows });
    const ropeArgs = {
      rows,
      headDim: c.headDim,
      position0,
      theta: c.layerRopeTheta[layer],
      factor: c.layerRopeFactor[layer],
    };
    batch.mark("rope");
    rope(batch, { ...ropeArgs, x: state.q, heads: c.numHeads });
    rope(batch, { ...ropeArgs, x: state.k, heads: c.numKvHeads });
    batch.mark("kv cache append");
    appendToCache(batch, state, layer, rows, position0, kvWidth);
    batch.mark("attention");
    const window = c.layerWindows[layer];
    // Few query rows (decode) over many keys: split the keys across workgroups (flash-decoding).
    const useSplitK = preferSplitK(rows, c.numHeads, maxVisibleKeys(rows, position0, window));
    (useSplitK ? attentionSplitK : attention)(batch, {
      scratch: state.attentionScratch,
      q: state.q,
      k: state.keys[layer],
      v: state.values[layer],
      out: state.attended,
      rows,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      position0,
      scale: c.attentionScale,
      softcap: c.attnLogitSoftcap,
      window,
      cacheRows: state.cacheRows[layer],
    });
    batch.mark("o projection", lw.o.bytes);
    addToResidual(state.attended, lw.o, lw.attnOutNorm);

    // MLP block (GeGLU with tanh-GELU).
    batch.mark("rms norm");
    norm(state.h, lw.mlpNorm, state.x);
    batch.mark("gate, up projections", lw.gate.bytes + lw.up.bytes);
    matmul(batch, { x: state.x, w: lw.gate, y: state.gate, rows });
    matmul(batch, { x: state.x, w: lw.up, y: state.up, rows });
    batch.mark("gelu · up");
    geluMul(batch, {
      gate: state.gate,
      up: state.up,
      y: state.act,
      count: rows * c.intermediateSize,
    });
    batch.mark("down projection", lw.down.bytes);
    addToResidual(state.act, lw.down, lw.mlpOutNorm);
  }

  if (args.logitRows === 0) return;
  // Only the wanted rows go through the final norm and the (vocab-wide) output head.
  const from = args.logitsFrom;
  batch.mark("rms norm");
  batch.copy(state.h, from * d * 4, state.x, 0, args.logitRows * d * 4);
  rmsNorm(batch, {
    x: state.x,
    weight: w.finalNorm,
    y: state.logitInput,
    rows: args.logitRows,
    dim: d,
    eps: c.rmsNormEps,
  });
  batch.mark("output head", w.embed.bytes);
  matmul(batch, { x: state.logitInput, w: w.embed, y: state.logits, rows: args.logitRows });
  if (c.finalLogitSoftcap > 0) {
    batch.mark("logit softcap");
    softcap(batch, {
      x: state.logits,
      count: args.logitRows * c.vocabSize,
      cap: c.finalLogitSoftcap,
    });
  }
  batch.mark("token pick");
  if (args.pick) pickLogitsRow0(batch, state, c.vocabSize, args.pick);
}

/** Picks a token from logits row 0 into `state.picked`. */
export function pickLogitsRow0(
  batch: GpuBatch,
  state: ForwardState,
  vocab: number,
  pick: TokenPick,
): void {
  pickToken(batch, {
    x: state.logits,
    n: vocab,
    out: state.picked,
    sample: pick.sample,
    repetitionPenalty: pick.repetitionPenalty,
    seen: state.seen,
  });
}

/**
 * Copies this step's keys and values (rows × kvWidth, f32) into the layer's cache at positions
 * position0…, wrapping around the end of a ring cache (at most once: rows ≤ cacheRows).
 */
function appendToCache(
  batch: GpuBatch,
  state: ForwardState,
  layer: number,
  rows: number,
  position0: number,
  kvWidth: number,
): void {
  const ring = state.cacheRows[layer];
  const start = position0 % ring;
  const first = Math.min(rows, ring - start);
  const rowBytes = kvWidth * 4;
  for (const [from, to] of [[state.k, state.keys[layer]], [state.v, state.values[layer]]]) {
    batch.copy(from, 0, to, start * rowBytes, first * rowBytes);
    if (first < rows) batch.copy(from, first * rowBytes, to, 0, (rows - first) * rowBytes);
  }
}

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
//
// Fused to save dispatches (a fixed cost each, which dominates a decode step of a small model on
// a fast GPU): q, k, v are one matmul, and gate, up another (their weights are stacked at load),
// which also applies gelu_tanh(gate) ⊙ up where it can (matmul's glu); a layer's q/k norms, RoPE
// and KV-cache writes are one kernel (attention_input); Gemma 2/3's sandwich norm, the residual
// add and the next block's input norm are another (residualNorm).

import type { GpuBatch } from "../kernels/gpu.ts";
import { pickToken, type SampleDraw } from "../kernels/pick_token.ts";
import { attention } from "../kernels/attention.ts";
import { attentionSplitK, maxVisibleKeys, preferSplitK } from "../kernels/attention_split.ts";
import { attentionPrefillTiled, tilesHeadDim } from "../kernels/attention_tiled.ts";
import { embed } from "../kernels/embedding.ts";
import { geluMul } from "../kernels/gelu_mul.ts";
import { canFuseGlu, matmul } from "../kernels/matmul.ts";
import { residualNorm, rmsNorm } from "../kernels/rms_norm.ts";
import { attentionInput } from "../kernels/attention_input.ts";
import { softcap } from "../kernels/softcap.ts";
import type { GpuMatrix } from "../kernels/matrix.ts";
import type { RowPlaces } from "../kernels/row_places.ts";
import type { Gemma } from "./weights.ts";
import { hasLora, type LoraModule, recordLoraAdd } from "./lora.ts";

/**
 * From how many query rows, seeing how many keys, a prefill's attention runs as tiled products
 * (attention_tiled.ts) rather than one workgroup per row and head (or split-K). Gemma 3 270M on
 * lavapipe, 18 layers' attention: 4 rows at position 512 100 ms against 303, 64 rows at 512 652
 * against 2775, 128 from 0 352 against 975; under 32 keys the one-pass kernel is a few ms ahead.
 */
const TILED_ATTENTION_MIN_ROWS = 4;
const TILED_ATTENTION_MIN_KEYS = 32;

/**
 * GPU buffers for one sequence or several (batched decoding): their KV caches and the activations
 * of up to `maxRows` tokens (forward_state.ts allocates them).
 */
export interface ForwardState {
  /**
   * Per layer, (cacheRows[layer], kvHeads·headDim) f32 keys and values; position p is at row
   * p mod cacheRows[layer]. Global layers have a row per position; sliding-window layers keep a
   * ring of window + maxRows rows, enough for every key a chunk of queries can see. With several
   * sequences, sequence s has rows s·cacheRows[layer] … (s + 1)·cacheRows[layer] − 1.
   */
  keys: GPUBuffer[];
  values: GPUBuffer[];
  cacheRows: number[];
  /** Positions each sequence's KV cache can hold (the context length). */
  capacity: number;
  /** Sequences with a KV cache each. */
  sequences: number;
  /** Most tokens one forward call may process. */
  maxRows: number;
  ids: GPUBuffer; //     (maxRows) u32
  h: GPUBuffer; //       (maxRows, hidden) the residual stream
  x: GPUBuffer; //       (maxRows, hidden) normed input of a block
  x2: GPUBuffer; //      (maxRows, hidden) a block's output before its sandwich norm
  qkv: GPUBuffer; //     (maxRows, (heads + 2·kvHeads)·headDim) the q, k, v projections
  q: GPUBuffer; //       (maxRows, heads·headDim) queries after RoPE
  attended: GPUBuffer; // (maxRows, heads·headDim)
  gateUp: GPUBuffer; //  (maxRows, 2·ff) the gate and up projections
  act: GPUBuffer; //     (maxRows, ff)
  /** (maxLogitRows, hidden): final-normed rows whose logits are wanted. */
  logitInput: GPUBuffer;
  /** (maxLogitRows, logitStride) f32: each row's vocab logits, then padding. */
  logits: GPUBuffer;
  /** vocab, or more so that every row starts at a 256-byte binding offset (several sequences). */
  logitStride: number;
  maxLogitRows: number;
  /** (sequences, 64) u32: word 0 of row s is the token last picked for sequence s (row 0 from
   * logits row 0, see ForwardArgs.pick), so that decoding reads back 4 bytes instead of the
   * logits, or nothing at all (session.ts, decode). */
  picked: GPUBuffer;
  /** (sequences, seenStride) u32: per sequence ⌈vocab / 32⌉ words of the tokens a repetition
   * penalty applies to (pick_token's `seen`). */
  seen: GPUBuffer;
  seenStride: number;
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
  /**
   * Rows of several sequences (batched decoding): each row's position and its sequence's stretch
   * of the KV cache come from this table instead (`position0` is ignored).
   */
  places?: RowPlaces;
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

  // The embedding scale is √hidden rounded to the activation dtype (f32 here).
  batch.mark("embedding");
  embed(batch, {
    ids: state.ids,
    table: w.embed,
    y: state.h,
    rows,
    scale: Math.fround(Math.sqrt(d)),
  });

  const eps = c.rmsNormEps;
  const lora = model.lora;
  /** y[:, yOffset…] += the adapter's product for `module` (LoRA, unmerged), if it has one. */
  const loraAdd = (
    layer: number,
    module: LoraModule,
    x: GPUBuffer,
    y: GPUBuffer,
    yOffset = 0,
    yStride?: number,
  ) => {
    if (lora) recordLoraAdd(batch, lora, layer, module, x, y, rows, yOffset, yStride);
  };
  /**
   * h += input·Wᵀ and x = RMSNorm(h)·nextNorm (the input of the next block, or the final norm);
   * with a sandwich norm (Gemma 2/3) h += RMSNorm(input·Wᵀ)·outNorm instead, fused with the
   * next norm.
   */
  const blockOutput = (
    input: GPUBuffer,
    weight: GpuMatrix,
    outNorm: GPUBuffer | undefined,
    nextNorm: GPUBuffer,
    site: [layer: number, module: LoraModule],
  ) => {
    if (outNorm) {
      matmul(batch, { x: input, w: weight, y: state.x2, rows });
      loraAdd(...site, input, state.x2);
      batch.mark("residual + norms");
      residualNorm(batch, {
        x: state.x2,
        weight: outNorm,
        h: state.h,
        next: nextNorm,
        y: state.x,
        rows,
        dim: d,
        eps,
      });
    } else {
      matmul(batch, { x: input, w: weight, y: state.h, rows, accumulate: true });
      loraAdd(...site, input, state.h);
      batch.mark("rms norm");
      rmsNorm(batch, { x: state.h, weight: nextNorm, y: state.x, rows, dim: d, eps });
    }
  };

  /** y = x·Wᵀ for W stacked from `matrices` (see LayerWeights): each writes its own columns. */
  const stackedMatmul = (matrices: GpuMatrix[], y: GPUBuffer) => {
    const yStride = matrices.reduce((sum, m) => sum + m.rows, 0);
    let yOffset = 0;
    for (const m of matrices) {
      matmul(batch, { x: state.x, w: m, y, rows, yOffset, yStride });
      yOffset += m.rows;
    }
  };

  batch.mark("rms norm");
  rmsNorm(batch, { x: state.h, weight: w.layers[0].attnNorm, y: state.x, rows, dim: d, eps });
  for (let layer = 0; layer < c.numLayers; layer++) {
    const lw = w.layers[layer];

    // Attention block; its input x = RMSNorm(h) is ready.
    batch.mark("q, k, v projections", bytesOf(lw.qkv));
    stackedMatmul(lw.qkv, state.qkv);
    const qWidth = c.numHeads * c.headDim;
    const kvWidth = c.numKvHeads * c.headDim;
    const qkvStride = qWidth + 2 * kvWidth;
    loraAdd(layer, "q_proj", state.x, state.qkv, 0, qkvStride);
    loraAdd(layer, "k_proj", state.x, state.qkv, qWidth, qkvStride);
    loraAdd(layer, "v_proj", state.x, state.qkv, qWidth + kvWidth, qkvStride);
    batch.mark("attention input");
    attentionInput(batch, {
      qkv: state.qkv,
      q: state.q,
      keys: state.keys[layer],
      values: state.values[layer],
      cacheRows: state.cacheRows[layer],
      rows,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      position0,
      theta: c.layerRopeTheta[layer],
      factor: c.layerRopeFactor[layer],
      headNorms: lw.qNorm && lw.kNorm ? { q: lw.qNorm, k: lw.kNorm, eps } : undefined,
      places: args.places,
    });
    batch.mark("attention");
    const window = c.layerWindows[layer];
    // Few query rows (decode) over many keys: split the keys across workgroups (flash-decoding).
    const maxKeys = args.places
      ? maxVisibleKeys(1, args.places.lastPosition, window)
      : maxVisibleKeys(rows, position0, window);
    const tiled = !args.places && rows >= TILED_ATTENTION_MIN_ROWS &&
      maxKeys >= TILED_ATTENTION_MIN_KEYS && tilesHeadDim(c.headDim);
    const useSplitK = !tiled && preferSplitK(rows, c.numHeads, maxKeys);
    (tiled ? attentionPrefillTiled : useSplitK ? attentionSplitK : attention)(batch, {
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
      places: args.places,
    });
    batch.mark("o projection", lw.o.bytes);
    blockOutput(state.attended, lw.o, lw.attnOutNorm, lw.mlpNorm, [layer, "o_proj"]);

    // MLP block (GeGLU with tanh-GELU).
    batch.mark("gate, up projections", bytesOf(lw.gateUp));
    const gateUpLora = hasLora(lora, layer, "gate_proj", "up_proj");
    if (!gateUpLora && lw.gateUp.length === 1 && canFuseGlu(batch.gpu, lw.gateUp[0], rows)) {
      // gelu_tanh(gate) ⊙ up straight out of the matmul.
      matmul(batch, { x: state.x, w: lw.gateUp[0], y: state.act, rows, glu: true });
    } else {
      stackedMatmul(lw.gateUp, state.gateUp);
      const f = c.intermediateSize;
      loraAdd(layer, "gate_proj", state.x, state.gateUp, 0, 2 * f);
      loraAdd(layer, "up_proj", state.x, state.gateUp, f, 2 * f);
      batch.mark("gelu · up");
      geluMul(batch, { gateUp: state.gateUp, y: state.act, rows, width: c.intermediateSize });
    }
    batch.mark("down projection", lw.down.bytes);
    const last = layer === c.numLayers - 1;
    blockOutput(
      state.act,
      lw.down,
      lw.mlpOutNorm,
      last ? w.finalNorm : w.layers[layer + 1].attnNorm,
      [layer, "down_proj"],
    );
  }

  if (args.logitRows === 0) return;
  // x = RMSNorm(h)·finalNorm for every row; only the wanted rows go through the (vocab-wide)
  // output head.
  const from = args.logitsFrom;
  let headInput = state.x;
  if (from !== 0) {
    batch.copy(state.x, from * d * 4, state.logitInput, 0, args.logitRows * d * 4);
    headInput = state.logitInput;
  }
  batch.mark("output head", w.embed.bytes);
  matmul(batch, {
    x: headInput,
    w: w.embed,
    y: state.logits,
    rows: args.logitRows,
    yStride: state.logitStride,
  });
  if (c.finalLogitSoftcap > 0) {
    batch.mark("logit softcap");
    softcap(batch, {
      x: state.logits,
      count: args.logitRows * state.logitStride,
      cap: c.finalLogitSoftcap,
    });
  }
  batch.mark("token pick");
  if (args.pick) pickLogitsRow0(batch, state, c.vocabSize, args.pick);
}

function bytesOf(matrices: GpuMatrix[]): number {
  return matrices.reduce((sum, m) => sum + m.bytes, 0);
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

// The Gemma forward pass on the GPU, top to bottom. One call records every kernel for `rows`
// new tokens into one GpuBatch (one submit): embedding → N × (attention block, MLP block) →
// final norm → tied output head for the rows whose logits are wanted.
//
//   h = E[ids] · √hidden
//   for each layer:
//     x = RMSNorm(h) · (1 + w_in)
//     q, k, v = x·Wqᵀ, x·Wkᵀ, x·Wvᵀ;  RoPE(q), RoPE(k);  append k, v to the KV cache
//     h += softmax(q·kᵀ · scale + causal mask) · v · Woᵀ
//     x = RMSNorm(h) · (1 + w_post)
//     h += (gelu_tanh(x·Wgateᵀ) ⊙ x·Wupᵀ) · Wdownᵀ
//   logits = (RMSNorm(h) · (1 + w_final)) · Eᵀ

import type { GpuBatch } from "../kernels/gpu.ts";
import { argmax } from "../kernels/argmax.ts";
import { attention } from "../kernels/attention.ts";
import { embed } from "../kernels/embedding.ts";
import { geluMul } from "../kernels/gelu_mul.ts";
import { matmul } from "../kernels/matmul.ts";
import { rmsNorm } from "../kernels/rms_norm.ts";
import { rope } from "../kernels/rope.ts";
import type { Gemma } from "./weights.ts";

/** GPU buffers for one sequence: its KV cache and the activations of up to `maxRows` tokens. */
export interface ForwardState {
  /** Per layer, (capacity, kvHeads·headDim) f32 keys and values; row p holds position p. */
  keys: GPUBuffer[];
  values: GPUBuffer[];
  /** Positions the KV cache can hold (the context length). */
  capacity: number;
  /** Most tokens one forward call may process. */
  maxRows: number;
  ids: GPUBuffer; //     (maxRows) u32
  h: GPUBuffer; //       (maxRows, hidden) the residual stream
  x: GPUBuffer; //       (maxRows, hidden) normed input of a block
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
  /** u32[1]: the argmax of logits row 0, for greedy decoding without reading the logits. */
  argmax: GPUBuffer;
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
  /** Also write argmax(logits row 0) into `state.argmax`. */
  argmax?: boolean;
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
  embed(batch, {
    ids: state.ids,
    table: w.embed,
    y: state.h,
    rows,
    scale: Math.fround(Math.sqrt(d)),
  });

  for (let layer = 0; layer < c.numLayers; layer++) {
    const lw = w.layers[layer];
    const { keys, values } = state;

    // Attention block.
    rmsNorm(batch, {
      x: state.h,
      weight: lw.inputNorm,
      y: state.x,
      rows,
      dim: d,
      eps: c.rmsNormEps,
    });
    matmul(batch, { x: state.x, w: lw.q, y: state.q, rows });
    matmul(batch, { x: state.x, w: lw.k, y: state.k, rows });
    matmul(batch, { x: state.x, w: lw.v, y: state.v, rows });
    const ropeArgs = { rows, headDim: c.headDim, position0, theta: c.ropeTheta };
    rope(batch, { ...ropeArgs, x: state.q, heads: c.numHeads });
    rope(batch, { ...ropeArgs, x: state.k, heads: c.numKvHeads });
    // Append this step's keys and values at rows position0… of the cache.
    const cacheOffset = position0 * kvWidth * 4;
    batch.copy(state.k, 0, keys[layer], cacheOffset, rows * kvWidth * 4);
    batch.copy(state.v, 0, values[layer], cacheOffset, rows * kvWidth * 4);
    attention(batch, {
      q: state.q,
      k: keys[layer],
      v: values[layer],
      out: state.attended,
      rows,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      position0,
      scale: c.attentionScale,
    });
    matmul(batch, { x: state.attended, w: lw.o, y: state.h, rows, accumulate: true });

    // MLP block (GeGLU with tanh-GELU).
    rmsNorm(batch, {
      x: state.h,
      weight: lw.postAttentionNorm,
      y: state.x,
      rows,
      dim: d,
      eps: c.rmsNormEps,
    });
    matmul(batch, { x: state.x, w: lw.gate, y: state.gate, rows });
    matmul(batch, { x: state.x, w: lw.up, y: state.up, rows });
    geluMul(batch, {
      gate: state.gate,
      up: state.up,
      y: state.act,
      count: rows * c.intermediateSize,
    });
    matmul(batch, { x: state.act, w: lw.down, y: state.h, rows, accumulate: true });
  }

  if (args.logitRows === 0) return;
  // Only the wanted rows go through the final norm and the (vocab-wide) output head.
  const from = args.logitsFrom;
  batch.copy(state.h, from * d * 4, state.x, 0, args.logitRows * d * 4);
  rmsNorm(batch, {
    x: state.x,
    weight: w.finalNorm,
    y: state.logitInput,
    rows: args.logitRows,
    dim: d,
    eps: c.rmsNormEps,
  });
  matmul(batch, { x: state.logitInput, w: w.embed, y: state.logits, rows: args.logitRows });
  if (args.argmax) argmax(batch, { x: state.logits, n: c.vocabSize, out: state.argmax });
}

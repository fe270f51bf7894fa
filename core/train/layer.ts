// One transformer layer of the training pass, forward and backward, over B sequences of T rows
// packed back to back (row r is position r mod T of sequence ⌊r / T⌋; no KV cache: keys and
// values are each sequence's own rows; shorter sequences are padded, their padding rows have no
// targets and, being later than every real row, never reach a real row through attention).
//
// The forward (recordLayerForward) is core/gemma.ts's, unfused where the backward needs the
// parts: gate and up are kept (T, 2F) before GeGLU, and a block's output before its sandwich norm.
// It writes h[l + 1] from h[l]; the backward pass runs it again from h[l] (recompute: only the
// residual stream at layer boundaries is kept) and then recordLayerBackward turns dL/dh[l + 1]
// (ws.dh) into dL/dh[l] in place, adding each adapted module's dA, dB on the way:
//
//   MLP:  dm = normᵀ(dh)            [Gemma 2/3 sandwich; Gemma 1: dm = dh]
//         dact = dm·W_down (+ LoRA) → dgateUp = GeGLUᵀ → dx2 = dgateUp·W_gateUp (+ LoRA)
//         dh += RMSNormᵀ(dx2)       (dh is now dL/dh_mid)
//   attn: da = normᵀ(dh); dattended = da·W_o (+ LoRA); dq, dk, dv = attentionᵀ;
//         RoPEᵀ, q/k-normᵀ in place; dx1 = dqkv·W_qkv (+ LoRA); dh += RMSNormᵀ(dx1)
//
// LoRA beside y = x·Wᵀ, with h = s·x·Aᵀ kept from the forward (ws.loraH):
//   dB += dyᵀ·h,  dh' = s·dy·B,  dA += dh'ᵀ·x,  dx += dh'·A.
// With LoRA dropout (PEFT's: y = x·Wᵀ + s·B·A·dropout(x), a mask per module), x̃ = dropout(x)
// replaces x in h and dA, and dx += dropoutᵀ(dh'·A), the same mask and factor. The masks are
// recomputed from their keys (kernels/dropout.ts) in the forward, its recompute and the backward.

import type { Binding, GpuBatch } from "../../kernels/gpu.ts";
import { attention } from "../../kernels/attention.ts";
import { attentionForwardTiled } from "../../kernels/attention_tiled.ts";
import { matmulTiledKMajor, takesKMajor } from "../../kernels/matmul_tiled.ts";
import { attentionInput } from "../../kernels/attention_input.ts";
import { geluMul } from "../../kernels/gelu_mul.ts";
import { matmul } from "../../kernels/matmul.ts";
import { residualNorm, rmsNorm } from "../../kernels/rms_norm.ts";
import {
  attentionBackward,
  f32Matrix,
  geluMulBackward,
  matmulInputGrad,
  matmulWeightGrad,
  rmsNormBackward,
  ropeBackward,
} from "../../kernels/backward.ts";
import { dropout } from "../../kernels/dropout.ts";
import type { GpuMatrix } from "../../kernels/matrix.ts";
import { type GpuLora, type GpuLoraPair, type LoraModule, recordLoraProduct } from "../lora.ts";
import type { Gemma } from "../weights.ts";
import type { RowPlaces } from "../../kernels/row_places.ts";
import type { TrainWorkspace } from "./workspace.ts";

/** Per layer, per adapted module: the f32 gradients of A (rank, in) and B (out, rank). */
export type LoraGrads = Map<LoraModule, { a: GPUBuffer; b: GPUBuffer }>[];

export interface LayerPass {
  batch: GpuBatch;
  model: Gemma;
  lora: GpuLora;
  ws: TrainWorkspace;
  /** Rows of all sequences, B·T (≤ ws.rows). */
  rows: number;
  /** B sequences of T rows each (T = rows / B). */
  sequences: number;
  /** Each row's (position, sequence), for attention's forward (row_places.ts). */
  places: RowPlaces;
  /** LoRA dropout of a training pass; absent (or p = 0): none. */
  dropout?: LoraDropout;
}

/** LoRA dropout for one pass: its rate, each module's mask key, and room for x̃. */
export interface LoraDropout {
  p: number;
  key(layer: number, module: LoraModule): number;
  /** (rows, max in) f32: dropout(x) of the module at hand, then its input gradient. */
  dropped: GPUBuffer;
}

/** x̃ = dropout(x) of `module` into p.dropout.dropped (the module's input, rows × in). */
function dropModuleInput(
  p: LayerPass,
  layer: number,
  module: LoraModule,
  x: Binding,
  size: number,
) {
  const d = p.dropout!;
  dropout(p.batch, { x, y: d.dropped, count: p.rows * size, p: d.p, key: d.key(layer, module) });
  return d.dropped;
}

function hasDropout(p: LayerPass): boolean {
  return p.dropout !== undefined && p.dropout.p > 0;
}

function widths(model: Gemma) {
  const c = model.config;
  const qW = c.numHeads * c.headDim;
  const kvW = c.numKvHeads * c.headDim;
  return { d: c.hiddenSize, f: c.intermediateSize, qW, kvW, qkvW: qW + 2 * kvW };
}

/** Where each module's output lies: its buffer band (offset, stride) and its input. */
function moduleSites(model: Gemma, ws: TrainWorkspace) {
  const { d, f, qW, kvW, qkvW } = widths(model);
  return {
    q_proj: { x: ws.x1, offset: 0, stride: qkvW },
    k_proj: { x: ws.x1, offset: qW, stride: qkvW },
    v_proj: { x: ws.x1, offset: qW + kvW, stride: qkvW },
    o_proj: { x: ws.attended, offset: 0, stride: d },
    gate_proj: { x: ws.x2, offset: 0, stride: 2 * f },
    up_proj: { x: ws.x2, offset: f, stride: 2 * f },
    down_proj: { x: ws.act, offset: 0, stride: d },
  };
}

/** y (+)= x·Wᵀ for W stacked from `matrices`, each into its own columns. */
function stacked(p: LayerPass, matrices: GpuMatrix[], x: GPUBuffer, y: GPUBuffer) {
  const stride = matrices.reduce((sum, m) => sum + m.rows, 0);
  let offset = 0;
  for (const m of matrices) {
    matmul(p.batch, { x, w: m, y, rows: p.rows, yOffset: offset, yStride: stride });
    offset += m.rows;
  }
}

function loraForward(p: LayerPass, layer: number, module: LoraModule, x: Binding, y: GPUBuffer) {
  const pair = p.lora.layers[layer].get(module);
  if (!pair) return;
  const site = moduleSites(p.model, p.ws)[module];
  p.batch.mark("forward: LoRA");
  recordLoraProduct(p.batch, pair, {
    x: hasDropout(p) ? dropModuleInput(p, layer, module, x, pair.in) : x,
    y,
    rows: p.rows,
    yOffset: site.offset,
    yStride: site.stride,
    h: p.ws.loraH.get(module)!,
    scale: p.lora.scale,
    rank: p.lora.rank,
  });
}

/** h[layer + 1] = layer(h[layer]), keeping the intermediates in ws. */
export function recordLayerForward(p: LayerPass, layer: number): void {
  const { batch, model, ws, rows } = p;
  const c = model.config;
  const lw = model.weights.layers[layer];
  const { d, f } = widths(model);
  const eps = c.rmsNormEps;
  const hIn = ws.h[layer];
  const hOut = ws.h[layer + 1];
  const bytes = rows * d * 4;

  batch.mark("forward: q, k, v");
  rmsNorm(batch, { x: hIn, weight: lw.attnNorm, y: ws.x1, rows, dim: d, eps });
  stacked(p, lw.qkv, ws.x1, ws.qkv);
  for (const m of ["q_proj", "k_proj", "v_proj"] as const) loraForward(p, layer, m, ws.x1, ws.qkv);
  batch.mark("forward: attention");
  attentionInput(batch, {
    qkv: ws.qkv,
    q: ws.q,
    keys: ws.keys,
    values: ws.values,
    cacheRows: rows / p.sequences,
    rows,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    position0: 0,
    theta: c.layerRopeTheta[layer],
    factor: c.layerRopeFactor[layer],
    headNorms: lw.qNorm && lw.kNorm ? { q: lw.qNorm, k: lw.kNorm, eps } : undefined,
    places: p.places,
  });
  const shape = {
    rows: rows / p.sequences,
    sequences: p.sequences,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    scale: c.attentionScale,
    softcap: c.attnLogitSoftcap,
    window: c.layerWindows[layer],
  };
  if (ws.attention) {
    const { q, keys: k, values: v, attended: out } = ws;
    attentionForwardTiled(batch, { ...shape, q, k, v, out }, ws.attention);
  } else {
    attention(batch, {
      ...shape,
      q: ws.q,
      k: ws.keys,
      v: ws.values,
      out: ws.attended,
      rows,
      position0: 0,
      cacheRows: rows / p.sequences,
      places: p.places,
    });
  }
  batch.mark("forward: o, norms");
  batch.copy(hIn, 0, ws.hMid, 0, bytes);
  if (lw.attnOutNorm) {
    matmul(batch, { x: ws.attended, w: lw.o, y: ws.a, rows });
    loraForward(p, layer, "o_proj", ws.attended, ws.a);
    residualNorm(batch, {
      x: ws.a,
      weight: lw.attnOutNorm,
      h: ws.hMid,
      next: lw.mlpNorm,
      y: ws.x2,
      rows,
      dim: d,
      eps,
    });
  } else {
    matmul(batch, { x: ws.attended, w: lw.o, y: ws.hMid, rows, accumulate: true });
    loraForward(p, layer, "o_proj", ws.attended, ws.hMid);
    rmsNorm(batch, { x: ws.hMid, weight: lw.mlpNorm, y: ws.x2, rows, dim: d, eps });
  }

  batch.mark("forward: gate, up, GeGLU");
  stacked(p, lw.gateUp, ws.x2, ws.gateUp);
  for (const m of ["gate_proj", "up_proj"] as const) loraForward(p, layer, m, ws.x2, ws.gateUp);
  batch.mark("forward: gate, up, GeGLU");
  geluMul(batch, { gateUp: ws.gateUp, y: ws.act, rows, width: f });
  batch.mark("forward: down, norms");
  batch.copy(ws.hMid, 0, hOut, 0, bytes);
  if (lw.mlpOutNorm) {
    matmul(batch, { x: ws.act, w: lw.down, y: ws.m, rows });
    loraForward(p, layer, "down_proj", ws.act, ws.m);
    residualNorm(batch, {
      x: ws.m,
      weight: lw.mlpOutNorm,
      h: hOut,
      next: lw.mlpNorm,
      y: ws.discard,
      rows,
      dim: d,
      eps,
    });
  } else {
    matmul(batch, { x: ws.act, w: lw.down, y: hOut, rows, accumulate: true });
    loraForward(p, layer, "down_proj", ws.act, hOut);
  }
}

/**
 * dx (+)= dy·W for W stacked from `matrices` (dy's columns in the same order), through the
 * transposed scratch where it pays.
 */
function stackedInputGrad(
  p: LayerPass,
  matrices: GpuMatrix[],
  dy: GPUBuffer,
  dx: GPUBuffer,
  accumulate = false,
) {
  const stride = matrices.reduce((sum, m) => sum + m.rows, 0);
  let offset = 0;
  matrices.forEach((w, i) => {
    const fits = w.chunks.length === 1 && w.rows * w.cols * 4 <= p.ws.transposed.size;
    matmulInputGrad(p.batch, {
      dy,
      w,
      dx,
      rows: p.rows,
      dyStride: stride,
      dyOffset: offset,
      accumulate: accumulate || i > 0,
      scratch: fits && matrices.length === 1 ? p.ws.transposed : undefined,
    });
    offset += w.rows;
  });
}

/**
 * dx (+)= scale · dy·w for a small f32 w (N, K) (LoRA's A and B): read as the (K', N') = (N, K)
 * matrix of matmulTiledKMajor where K is a whole number of 8-column tiles, else matmulInputGrad.
 */
function inputGrad(
  batch: GpuBatch,
  dy: GPUBuffer,
  w: GpuMatrix,
  dx: GPUBuffer,
  rows: number,
  options: { dyStride?: number; dyOffset?: number; scale?: number; accumulate?: boolean },
): void {
  if (takesKMajor(w)) {
    // w (N, K) row-major is the K-major form of the product's (N, K) → x·w.
    matmulTiledKMajor(batch, {
      x: dy,
      w,
      y: dx,
      rows,
      xStride: options.dyStride,
      xOffset: options.dyOffset,
      scale: options.scale,
      accumulate: options.accumulate,
    });
    return;
  }
  matmulInputGrad(batch, { dy, w, dx, rows, ...options });
}

/** One adapted module's backward: dA, dB accumulated (or set), dx += its input gradient. */
function loraBackward(
  p: LayerPass,
  grads: LoraGrads,
  layer: number,
  module: LoraModule,
  dy: GPUBuffer,
  dx: GPUBuffer | undefined,
  accumulate: boolean,
) {
  const pair: GpuLoraPair | undefined = p.lora.layers[layer].get(module);
  if (!pair) return;
  const g = grads[layer].get(module)!;
  const site = moduleSites(p.model, p.ws)[module];
  const { batch, rows, ws } = p;
  const r = p.lora.rank;
  const band = { dyStride: site.stride, dyOffset: site.offset };
  batch.mark("backward: LoRA");
  matmulWeightGrad(batch, {
    dy,
    x: ws.loraH.get(module)!,
    dw: g.b,
    rows,
    n: pair.out,
    k: r,
    ...band,
    accumulate,
  });
  // dh = s·dy·B and dx += dh·A multiply B (out, r) and A (r, in) as they lie, K-major.
  inputGrad(batch, dy, f32Matrix(pair.b, pair.out, r), ws.loraDh, rows, {
    ...band,
    scale: p.lora.scale,
  });
  const dropped = hasDropout(p);
  matmulWeightGrad(batch, {
    dy: ws.loraDh,
    x: dropped ? dropModuleInput(p, layer, module, site.x, pair.in) : site.x,
    dw: g.a,
    rows,
    n: r,
    k: pair.in,
    accumulate,
  });
  if (!dx) return;
  const a = f32Matrix(pair.a, r, pair.in);
  if (!dropped) {
    inputGrad(batch, ws.loraDh, a, dx, rows, { accumulate: true });
    return;
  }
  // dx += mask · factor · (dh'·A), through the dropout buffer (x̃ is no longer needed).
  const d = p.dropout!;
  inputGrad(batch, ws.loraDh, a, d.dropped, rows, {});
  dropout(batch, {
    x: d.dropped,
    y: dx,
    count: rows * pair.in,
    p: d.p,
    key: d.key(layer, module),
    accumulate: true,
  });
}

/**
 * ws.dh: dL/dh[layer + 1] in, dL/dh[layer] out (layer 0: left as is, the embedding is frozen).
 * Needs recordLayerForward(layer) just before. `accumulate`: add to the LoRA gradients.
 */
export function recordLayerBackward(
  p: LayerPass,
  grads: LoraGrads,
  layer: number,
  accumulate: boolean,
): void {
  const { batch, model, ws, rows } = p;
  const c = model.config;
  const lw = model.weights.layers[layer];
  const { d, f, qW, qkvW } = widths(model);
  const eps = c.rmsNormEps;
  const lora = (module: LoraModule, dy: GPUBuffer, dx: GPUBuffer | undefined) =>
    loraBackward(p, grads, layer, module, dy, dx, accumulate);

  // MLP block.
  batch.mark("backward: down, norms");
  let dm = ws.dh;
  if (lw.mlpOutNorm) {
    rmsNormBackward(batch, {
      x: ws.m,
      weight: lw.mlpOutNorm,
      dy: ws.dh,
      dx: ws.dTmp,
      rows,
      dim: d,
      eps,
    });
    dm = ws.dTmp;
  }
  matmulInputGrad(batch, {
    dy: dm,
    w: lw.down,
    dx: ws.dAct,
    rows,
    scratch: lw.down.rows * lw.down.cols * 4 <= ws.transposed.size ? ws.transposed : undefined,
  });
  lora("down_proj", dm, ws.dAct);
  batch.mark("backward: GeGLU, gate, up");
  geluMulBackward(batch, { gateUp: ws.gateUp, dy: ws.dAct, dGateUp: ws.dGateUp, rows, width: f });
  stackedInputGrad(p, lw.gateUp, ws.dGateUp, ws.dX);
  lora("gate_proj", ws.dGateUp, ws.dX);
  lora("up_proj", ws.dGateUp, ws.dX);
  batch.mark("backward: norms");
  rmsNormBackward(batch, {
    x: ws.hMid,
    weight: lw.mlpNorm,
    dy: ws.dX,
    dx: ws.dh,
    rows,
    dim: d,
    eps,
    accumulate: true,
  });

  // Attention block.
  batch.mark("backward: o, norms");
  let da = ws.dh;
  if (lw.attnOutNorm) {
    rmsNormBackward(batch, {
      x: ws.a,
      weight: lw.attnOutNorm,
      dy: ws.dh,
      dx: ws.dTmp,
      rows,
      dim: d,
      eps,
    });
    da = ws.dTmp;
  }
  matmulInputGrad(batch, {
    dy: da,
    w: lw.o,
    dx: ws.dAttended,
    rows,
    scratch: lw.o.rows * lw.o.cols * 4 <= ws.transposed.size ? ws.transposed : undefined,
  });
  lora("o_proj", da, ws.dAttended);
  batch.mark("backward: attention, RoPE, q/k norms");
  attentionBackward(batch, {
    q: ws.q,
    k: ws.keys,
    v: ws.values,
    dOut: ws.dAttended,
    dqkv: ws.dqkv,
    stats: ws.attnStats,
    workspace: ws.attention,
    rows: rows / p.sequences,
    sequences: p.sequences,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    scale: c.attentionScale,
    softcap: c.attnLogitSoftcap,
    window: c.layerWindows[layer],
  });
  const rope = {
    rows,
    headDim: c.headDim,
    position0: 0,
    rowStride: qkvW,
    sequenceRows: rows / p.sequences,
  };
  const theta = c.layerRopeTheta[layer];
  const factor = c.layerRopeFactor[layer];
  ropeBackward(batch, { grad: ws.dqkv, ...rope, heads: c.numHeads, offset: 0, theta, factor });
  ropeBackward(batch, { grad: ws.dqkv, ...rope, heads: c.numKvHeads, offset: qW, theta, factor });
  if (lw.qNorm && lw.kNorm) {
    for (
      const [weight, count, offset] of [[lw.qNorm, c.numHeads, 0], [
        lw.kNorm,
        c.numKvHeads,
        qW,
      ]] as const
    ) {
      rmsNormBackward(batch, {
        x: ws.qkv,
        weight,
        dy: ws.dqkv,
        rows: rows * count,
        dim: c.headDim,
        eps,
        heads: { count, rowStride: qkvW, offset },
      });
    }
  }
  // Layer 0's input gradient would only reach the frozen embedding.
  const needInput = layer > 0;
  batch.mark("backward: q, k, v, norm");
  if (needInput) stackedInputGrad(p, lw.qkv, ws.dqkv, ws.dX);
  const dx = needInput ? ws.dX : undefined;
  lora("q_proj", ws.dqkv, dx);
  lora("k_proj", ws.dqkv, dx);
  lora("v_proj", ws.dqkv, dx);
  if (needInput) {
    batch.mark("backward: q, k, v, norm");
    rmsNormBackward(batch, {
      x: ws.h[layer],
      weight: lw.attnNorm,
      dy: ws.dX,
      dx: ws.dh,
      rows,
      dim: d,
      eps,
      accumulate: true,
    });
  }
}

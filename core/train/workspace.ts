// The GPU buffers of one training sequence of up to `rows` tokens: the residual stream at every
// layer boundary (kept through the step: each layer is recomputed from its input in the backward
// pass, so only these L + 1 tensors of activations live at once), one layer's intermediates and
// gradients (reused by every layer), and the LoRA products x·Aᵀ of one layer.

import type { GpuContext } from "../../kernels/gpu.ts";
import { createCrossEntropyWorkspace, type CrossEntropyWorkspace } from "../../kernels/backward.ts";
import {
  type AttentionTrainWorkspace,
  createAttentionTrainWorkspace,
  tilesHeadDim,
} from "../../kernels/attention_tiled.ts";
import type { Gemma } from "../weights.ts";
import { LORA_MODULES, type LoraModule } from "../lora.ts";

export interface TrainWorkspace {
  rows: number;
  ids: GPUBuffer; //        (T) u32 inputs
  // The loss runs on the K rows that have a target only (K known on the CPU when a batch is
  // loaded): their final hidden rows are gathered into a compact buffer first, and their
  // gradient scattered back (zeros in the other rows).
  targets: GPUBuffer; //    (K) i32 the targets of the rows that have one
  gather: GPUBuffer; //     (K) i32 the row of each of them
  scatter: GPUBuffer; //    (T) i32 each row's slot among them, −1 where masked
  loss: GPUBuffer; //       (K) f32 per-target loss
  places: GPUBuffer; //     (T) vec2<u32> each row's position and sequence
  /** L + 1 buffers (T, d): h[0] the embedded input, h[l + 1] the output of layer l. */
  h: GPUBuffer[];
  // One layer's forward (recomputed in the backward pass):
  x1: GPUBuffer; //         (T, d) RMSNorm(h) before attention
  qkv: GPUBuffer; //        (T, qW + 2·kvW) projections, before q/k norms and RoPE
  q: GPUBuffer; //          (T, qW) queries as attention sees them
  keys: GPUBuffer; //       (T, kvW) keys as attention sees them
  values: GPUBuffer; //     (T, kvW)
  attended: GPUBuffer; //   (T, qW)
  a: GPUBuffer; //          (T, d) o projection (Gemma 2/3: before its sandwich norm)
  hMid: GPUBuffer; //       (T, d) the residual stream between attention and MLP
  x2: GPUBuffer; //         (T, d) RMSNorm(hMid) before the MLP
  gateUp: GPUBuffer; //     (T, 2F)
  act: GPUBuffer; //        (T, F) gelu(gate)·up
  m: GPUBuffer; //          (T, d) down projection (before its sandwich norm)
  discard: GPUBuffer; //    (T, d) the next-norm output residualNorm writes and nobody reads
  /** (T, rank) s·x·Aᵀ per adapted module of the current layer. */
  loraH: Map<LoraModule, GPUBuffer>;
  // Gradients:
  dh: GPUBuffer; //         (T, d) of the residual stream at the current layer boundary
  dTmp: GPUBuffer; //       (T, d) of a block's output before its sandwich norm
  dX: GPUBuffer; //         (T, d) of a normed block input
  dqkv: GPUBuffer; //       (T, qW + 2·kvW)
  dAttended: GPUBuffer; //  (T, qW)
  dAct: GPUBuffer; //       (T, F)
  dGateUp: GPUBuffer; //    (T, 2F)
  loraDh: GPUBuffer; //     (T, rank)
  attnStats: GPUBuffer; //  (T·H, 2)
  /** The tiled attention backward's scratch, for head dims it takes. */
  attention?: AttentionTrainWorkspace;
  /** Base weights decoded transposed for their input gradient (matmulInputGrad's scratch). */
  transposed: GPUBuffer;
  // The head:
  xFinal: GPUBuffer; //     (T, d) RMSNorm(h[L])·finalNorm
  dHidden: GPUBuffer; //    (T, d)
  xCompact: GPUBuffer; //   (K, d) the rows of xFinal that have a target
  dCompact: GPUBuffer; //   (K, d) their gradient
  crossEntropy: CrossEntropyWorkspace;
  /** Bytes of GPU memory the workspace holds. */
  bytes: number;
  destroy(): void;
}

export function createTrainWorkspace(model: Gemma, rows: number, rank: number): TrainWorkspace {
  const c = model.config;
  const gpu: GpuContext = model.gpu;
  const buffers: GPUBuffer[] = [];
  const buffer = (elements: number, label: string) => {
    const b = gpu.createBuffer(Math.max(elements, 1) * 4, label);
    buffers.push(b);
    return b;
  };
  const d = c.hiddenSize;
  const f = c.intermediateSize;
  const qW = c.numHeads * c.headDim;
  const kvW = c.numKvHeads * c.headDim;
  const qkvW = qW + 2 * kvW;
  // The largest one-chunk base matrix of a layer, decoded transposed.
  const w = model.weights.layers[0];
  let largest = 0;
  for (const m of [...w.qkv, w.o, ...w.gateUp, w.down]) {
    if (m.chunks.length === 1) largest = Math.max(largest, m.rows * m.cols);
  }
  largest = Math.min(largest, Math.floor(gpu.maxBindingBytes / 4));
  const crossEntropy = createCrossEntropyWorkspace(gpu, model.weights.embed, rows);
  const attention = tilesHeadDim(c.headDim)
    ? createAttentionTrainWorkspace(gpu, {
      rows,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
    })
    : undefined;
  const loraH = new Map<LoraModule, GPUBuffer>();
  for (const module of LORA_MODULES) loraH.set(module, buffer(rows * rank, `lora ${module} h`));
  return {
    rows,
    ids: buffer(rows, "train ids"),
    targets: buffer(rows, "train targets"),
    gather: buffer(rows, "train target rows"),
    scatter: buffer(rows, "train row slots"),
    loss: buffer(rows, "train loss"),
    places: buffer(rows * 2, "train row places"),
    h: Array.from({ length: c.numLayers + 1 }, (_, i) => buffer(rows * d, `h ${i}`)),
    x1: buffer(rows * d, "x1"),
    qkv: buffer(rows * qkvW, "qkv"),
    q: buffer(rows * qW, "q"),
    keys: buffer(rows * kvW, "keys"),
    values: buffer(rows * kvW, "values"),
    attended: buffer(rows * qW, "attended"),
    a: buffer(rows * d, "a"),
    hMid: buffer(rows * d, "h mid"),
    x2: buffer(rows * d, "x2"),
    gateUp: buffer(rows * 2 * f, "gate, up"),
    act: buffer(rows * f, "act"),
    m: buffer(rows * d, "m"),
    discard: buffer(rows * d, "discard"),
    loraH,
    dh: buffer(rows * d, "dh"),
    dTmp: buffer(rows * d, "d tmp"),
    dX: buffer(rows * d, "dx"),
    dqkv: buffer(rows * qkvW, "d qkv"),
    dAttended: buffer(rows * qW, "d attended"),
    dAct: buffer(rows * f, "d act"),
    dGateUp: buffer(rows * 2 * f, "d gate, up"),
    loraDh: buffer(rows * rank, "lora dh"),
    attnStats: buffer(rows * c.numHeads * 2, "attention stats"),
    attention,
    transposed: buffer(largest, "transposed weight"),
    xFinal: buffer(rows * d, "x final"),
    dHidden: buffer(rows * d, "d hidden"),
    xCompact: buffer(rows * d, "x final, rows with a target"),
    dCompact: buffer(rows * d, "d hidden, rows with a target"),
    crossEntropy,
    get bytes() {
      return buffers.reduce((sum, b) => sum + b.size, 0) + crossEntropy.bytes +
        (attention?.bytes ?? 0);
    },
    destroy() {
      for (const b of buffers) b.destroy();
      crossEntropy.destroy();
      attention?.destroy();
    },
  };
}

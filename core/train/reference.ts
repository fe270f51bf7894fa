// The training loss in float64 on the CPU, built from the kernels' f64 references, with a LoRA
// adapter unmerged beside the projections: the function whose finite differences check the GPU's
// LoRA gradients (tests/train_test.ts). Slow; tiny models only.

import { attentionForward64 } from "../../kernels/attention_backward.ts";
import { geluMulForward64 } from "../../kernels/gelu_mul_backward.ts";
import { matmulForward64 } from "../../kernels/matmul_backward.ts";
import { dropoutReference } from "../../kernels/dropout.ts";
import { rmsNormForward64 } from "../../kernels/rms_norm.ts";
import { ropeRotate64 } from "../../kernels/rope_backward.ts";
import type { ReferenceModel } from "../gemma_reference.ts";
import { EMBED_TENSOR, FINAL_NORM_TENSOR, layerTensorNames, mlpNormName } from "../tensor_names.ts";
import { type LoraModule, loraScale, type LoraSettings, moduleShape } from "../lora.ts";
import { exampleTargets, type TrainExample } from "./trainer.ts";

/** An adapter's matrices in f64 (perturbable): per layer, module → a (r, in), b (out, r). */
export type LoraValues = Map<LoraModule, { a: Float64Array; b: Float64Array }>[];

/**
 * LoRA dropout as a training pass draws it (settings.dropout > 0): each module's mask key, and
 * the example's first row in the pass (its rows are elements (rowOffset + t)·in + i of the mask).
 */
export interface ReferenceDropout {
  key(layer: number, module: LoraModule): number;
  rowOffset: number;
}

/** The summed cross-entropy of `example`'s unmasked targets, in f64. */
export function referenceLoss(
  model: ReferenceModel,
  settings: LoraSettings,
  lora: LoraValues,
  example: TrainExample,
  dropout?: ReferenceDropout,
): number {
  const c = model.config;
  const get = (name: string) => {
    const w = model.weights.get(name);
    if (!w) throw new Error(`reference: no tensor "${name}"`);
    return w;
  };
  const T = example.ids.length - 1;
  const d = c.hiddenSize;
  const f = c.intermediateSize;
  const s = loraScale(settings);
  const r = settings.rank;
  const E = get(EMBED_TENSOR);
  const scale = Math.fround(Math.sqrt(d));
  let h = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < d; i++) h[t * d + i] = E[example.ids[t] * d + i] * scale;
  }
  const add = (x: Float64Array, y: Float64Array) => x.map((v, i) => v + y[i]);

  for (let layer = 0; layer < c.numLayers; layer++) {
    const n = layerTensorNames(layer);
    const norm = (x: Float64Array, name: string, rows = T) =>
      rmsNormForward64(x, get(name), rows, c.rmsNormEps);
    /** x·Wᵀ + s·(dropout(x)·Aᵀ)·Bᵀ. */
    const project = (x: Float64Array, name: string, module: LoraModule) => {
      const [out, inputs] = moduleShape(c, module);
      const y = matmulForward64(x, get(name), T, out, inputs);
      const pair = lora[layer]?.get(module);
      if (!pair) return y;
      const p = settings.dropout ?? 0;
      const dropped = dropout && p > 0
        ? dropoutReference(x, p, dropout.key(layer, module), dropout.rowOffset * inputs)
        : x;
      const hA = matmulForward64(dropped, pair.a, T, r, inputs);
      const delta = matmulForward64(hA, pair.b, T, out, r);
      return y.map((v, i) => v + s * delta[i]);
    };
    const rope = (x: Float64Array, heads: number) =>
      ropeRotate64(
        x,
        { rows: T, heads, headDim: c.headDim, position0: 0 },
        c.layerRopeTheta[layer],
        1,
        c.layerRopeFactor[layer],
      );

    const x = norm(h, n.attnNorm);
    let q = project(x, n.q, "q_proj");
    let k = project(x, n.k, "k_proj");
    const v = project(x, n.v, "v_proj");
    if (c.qkNorm) {
      q = norm(q, n.qNorm, T * c.numHeads);
      k = norm(k, n.kNorm, T * c.numKvHeads);
    }
    const attended = attentionForward64(rope(q, c.numHeads), rope(k, c.numKvHeads), v, {
      rows: T,
      heads: c.numHeads,
      kvHeads: c.numKvHeads,
      headDim: c.headDim,
      scale: c.attentionScale,
      softcap: c.attnLogitSoftcap,
      window: c.layerWindows[layer],
    });
    const a = project(attended, n.o, "o_proj");
    h = add(h, c.sandwichNorms ? norm(a, n.attnOutNorm) : a);

    const x2 = norm(h, mlpNormName(c, layer));
    const gate = project(x2, n.gate, "gate_proj");
    const up = project(x2, n.up, "up_proj");
    const gateUp = new Float64Array(T * 2 * f);
    for (let t = 0; t < T; t++) {
      gateUp.set(gate.subarray(t * f, (t + 1) * f), 2 * t * f);
      gateUp.set(up.subarray(t * f, (t + 1) * f), (2 * t + 1) * f);
    }
    const m = project(geluMulForward64(gateUp, T, f), n.down, "down_proj");
    h = add(h, c.sandwichNorms ? norm(m, n.mlpOutNorm) : m);
  }

  const xf = rmsNormForward64(h, get(FINAL_NORM_TENSOR), T, c.rmsNormEps);
  const V = c.vocabSize;
  const logits = matmulForward64(xf, E, T, V, d);
  const cap = c.finalLogitSoftcap;
  const targets = exampleTargets(example, T);
  let total = 0;
  for (let t = 0; t < T; t++) {
    if (targets[t] < 0) continue;
    const row = logits.subarray(t * V, (t + 1) * V).map((z) =>
      cap > 0 ? cap * Math.tanh(z / cap) : z
    );
    let top = -Infinity;
    for (const z of row) top = Math.max(top, z);
    let sum = 0;
    for (const z of row) sum += Math.exp(z - top);
    total += top + Math.log(sum) - row[targets[t]];
  }
  return total;
}

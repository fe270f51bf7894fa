// The CPU twin of core/gemma.ts: the same forward pass built from the kernels' plain-loop
// reference functions, recomputing the whole sequence on every call (no KV cache), so that it is
// an independent check of the GPU path, the cache and the chunked prefill. Slow; for tests.

import { attentionReference } from "../kernels/attention.ts";
import { embedReference } from "../kernels/embedding.ts";
import { geluMulReference } from "../kernels/gelu_mul.ts";
import { type DType, roundToF16 } from "../kernels/gpu.ts";
import { matmulReference } from "../kernels/matmul.ts";
import { rmsNormReference } from "../kernels/rms_norm.ts";
import { ropeReference } from "../kernels/rope.ts";
import type { GemmaConfig } from "./config.ts";
import { softcapReference } from "../kernels/softcap.ts";
import { BLOCK_ELEMENTS, dequantize, quantize, type QuantType } from "../kernels/quant.ts";
import {
  EMBED_TENSOR,
  expectedTensorShapes,
  FINAL_NORM_TENSOR,
  layerTensorNames,
  mlpNormName,
} from "./tensor_names.ts";

export interface ReferenceModel {
  config: GemmaConfig;
  /** Tensor name → values as the GPU sees them (matrices rounded to f16 when dtype is f16). */
  weights: Map<string, Float32Array>;
}

/**
 * Prepares checkpoint tensors (raw, as in the file) for the reference: norm weights become 1 + w
 * and matrices are rounded to f16 (for `dtype` f16) or through `quant` blocks exactly as the GPU
 * upload does.
 */
export function referenceModel(
  config: GemmaConfig,
  tensors: Map<string, Float32Array>,
  dtype: DType = "f32",
  quant?: QuantType,
): ReferenceModel {
  const shapes = expectedTensorShapes(config);
  const weights = new Map<string, Float32Array>();
  for (const [name, values] of tensors) {
    const cols = shapes.get(name)?.at(-1) ?? 0;
    if (name.endsWith("norm.weight")) {
      weights.set(name, values.map((v) => v + 1));
    } else if (quant && cols % BLOCK_ELEMENTS[quant] === 0) {
      // Quantized on load (--quant): the GPU sees the dequantized blocks.
      weights.set(name, dequantize(quant, quantize(quant, values), values.length));
    } else {
      weights.set(name, dtype === "f16" ? roundToF16(values) : values);
    }
  }
  return { config, weights };
}

/**
 * Logits for the last `logitRows` positions of `ids` (default 1): (logitRows, vocab), the last
 * row predicting the token after `ids`.
 */
export function referenceLogits(
  model: ReferenceModel,
  ids: number[],
  logitRows = 1,
  geluMul: (gate: Float32Array, up: Float32Array) => Float32Array = geluMulReference,
): Float32Array {
  const c = model.config;
  const get = (name: string): Float32Array => {
    const w = model.weights.get(name);
    if (!w) throw new Error(`reference: no tensor "${name}"`);
    return w;
  };
  const T = ids.length;
  const d = c.hiddenSize;
  const qWidth = c.numHeads * c.headDim;
  const kvWidth = c.numKvHeads * c.headDim;
  const f = c.intermediateSize;
  const embedding = get(EMBED_TENSOR);
  const h = embedReference(new Uint32Array(ids), embedding, d, Math.fround(Math.sqrt(d)));

  for (let layer = 0; layer < c.numLayers; layer++) {
    const n = layerTensorNames(layer);
    const norm = (x: Float32Array, name: string, rows = T) =>
      rmsNormReference(x, get(name), rows, c.rmsNormEps);
    const rope = (x: Float32Array, heads: number) =>
      ropeReference(x, T, heads, c.headDim, 0, c.layerRopeTheta[layer], c.layerRopeFactor[layer]);

    let x = norm(h, n.attnNorm);
    let q = matmulReference(x, get(n.q), T, qWidth, d);
    let k = matmulReference(x, get(n.k), T, kvWidth, d);
    if (c.qkNorm) {
      q = norm(q, n.qNorm, T * c.numHeads);
      k = norm(k, n.kNorm, T * c.numKvHeads);
    }
    const v = matmulReference(x, get(n.v), T, kvWidth, d);
    const attended = attentionReference(
      rope(q, c.numHeads),
      rope(k, c.numKvHeads),
      v,
      T,
      c.numHeads,
      c.numKvHeads,
      c.headDim,
      0,
      c.attentionScale,
      c.attnLogitSoftcap,
      c.layerWindows[layer],
    );
    const a = matmulReference(attended, get(n.o), T, d, qWidth);
    addInPlace(h, c.sandwichNorms ? norm(a, n.attnOutNorm) : a);

    x = norm(h, mlpNormName(c, layer));
    const gate = matmulReference(x, get(n.gate), T, f, d);
    const up = matmulReference(x, get(n.up), T, f, d);
    const m = matmulReference(geluMul(gate, up), get(n.down), T, d, f);
    addInPlace(h, c.sandwichNorms ? norm(m, n.mlpOutNorm) : m);
  }

  const last = h.subarray((T - logitRows) * d);
  const normed = rmsNormReference(last, get(FINAL_NORM_TENSOR), logitRows, c.rmsNormEps);
  const logits = matmulReference(normed, embedding, logitRows, c.vocabSize, d);
  return c.finalLogitSoftcap > 0 ? softcapReference(logits, c.finalLogitSoftcap) : logits;
}

function addInPlace(x: Float32Array, y: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] += y[i];
}

/** Greedy continuation of `ids` by `count` tokens with the reference model. */
export function referenceGreedy(model: ReferenceModel, ids: number[], count: number): number[] {
  const sequence = [...ids];
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    const logits = referenceLogits(model, sequence);
    let best = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
    out.push(best);
    sequence.push(best);
  }
  return out;
}

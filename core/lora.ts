// LoRA adapters as an overlay on the frozen (possibly quantized) base model: beside a projection
// y = x·Wᵀ of any of q, k, v, o, gate, up, down, the adapter adds
//
//   y += s · (x·Aᵀ)·Bᵀ      A (r, in), B (out, r), s = α / r  (rsLoRA: α / √r)
//
// unmerged, after the base matmul, so W keeps its weight type. Names follow PEFT (q_proj …
// down_proj). A fresh adapter has PEFT's initialisation: B = 0, so it changes nothing, and A from
// kaiming_uniform_(a = √5), whose bound gain·√(3 / fan_in) with gain = √(2 / (1 + a²)) = √(1/3)
// is exactly 1/√in: A ~ U(−1/√in, 1/√in).

import { type Binding, GpuBatch, type GpuContext } from "../kernels/gpu.ts";
import { matmul } from "../kernels/matmul.ts";
import { f32Matrix } from "../kernels/matmul_backward.ts";
import { scaleInPlace } from "../kernels/scale.ts";
import type { GemmaConfig } from "./config.ts";
import { layerTensorNames } from "./tensor_names.ts";

export class LoraError extends Error {
  override name = "LoraError";
}

/** PEFT's names of the seven projections an adapter may sit beside, in the forward's order. */
export const LORA_MODULES = [
  "q_proj",
  "k_proj",
  "v_proj",
  "o_proj",
  "gate_proj",
  "up_proj",
  "down_proj",
] as const;
export type LoraModule = typeof LORA_MODULES[number];

export interface LoraSettings {
  rank: number;
  alpha: number;
  modules: LoraModule[];
  /** rsLoRA: s = α / √r instead of α / r. */
  rsLora?: boolean;
  /**
   * PEFT's lora_dropout: in training only, the adapter sees dropout(x) (kept values × 1/(1 − p));
   * inference ignores it. Default 0.
   */
  dropout?: number;
}

/** One module's matrices, row-major: a (rank, in), b (out, rank). */
export interface LoraPair {
  a: Float32Array;
  b: Float32Array;
}

/** An adapter on the host: its settings and, per layer, the pairs of its modules. */
export interface LoraTensors {
  settings: LoraSettings;
  layers: Map<LoraModule, LoraPair>[];
}

export function loraScale(settings: LoraSettings): number {
  return settings.rsLora
    ? settings.alpha / Math.sqrt(settings.rank)
    : settings.alpha / settings.rank;
}

/** [out, in] of a module's base weight. */
export function moduleShape(config: GemmaConfig, module: LoraModule): [number, number] {
  const d = config.hiddenSize;
  const qWidth = config.numHeads * config.headDim;
  const kvWidth = config.numKvHeads * config.headDim;
  const f = config.intermediateSize;
  switch (module) {
    case "q_proj":
      return [qWidth, d];
    case "k_proj":
    case "v_proj":
      return [kvWidth, d];
    case "o_proj":
      return [d, qWidth];
    case "gate_proj":
    case "up_proj":
      return [f, d];
    case "down_proj":
      return [d, f];
  }
}

/** Parses "q_proj,v_proj" (or "all"), one-line error on anything else. */
export function parseLoraModules(text: string): LoraModule[] {
  if (text.trim() === "all") return [...LORA_MODULES];
  const names = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (names.length === 0) throw new LoraError("no LoRA modules given");
  for (const name of names) {
    if (!(LORA_MODULES as readonly string[]).includes(name)) {
      throw new LoraError(
        `unknown LoRA module "${name}" (known: ${LORA_MODULES.join(", ")})`,
      );
    }
  }
  // The forward's order, without repeats.
  return LORA_MODULES.filter((m) => names.includes(m));
}

export function checkLoraSettings(settings: LoraSettings): void {
  if (!Number.isInteger(settings.rank) || settings.rank < 1) {
    throw new LoraError(`LoRA rank must be a positive integer, got ${settings.rank}`);
  }
  if (!Number.isFinite(settings.alpha)) {
    throw new LoraError(`LoRA alpha must be a number, got ${settings.alpha}`);
  }
  if (settings.modules.length === 0) throw new LoraError("no LoRA modules given");
  const p = settings.dropout ?? 0;
  if (!(p >= 0 && p < 1)) throw new LoraError(`LoRA dropout must be in [0, 1), got ${p}`);
}

/** A fresh adapter with PEFT's initialisation (see the header), from a seeded generator. */
export function initLora(config: GemmaConfig, settings: LoraSettings, seed: number): LoraTensors {
  checkLoraSettings(settings);
  const random = mulberry32(seed);
  const layers: Map<LoraModule, LoraPair>[] = [];
  for (let layer = 0; layer < config.numLayers; layer++) {
    const pairs = new Map<LoraModule, LoraPair>();
    for (const module of settings.modules) {
      const [out, inputs] = moduleShape(config, module);
      const bound = 1 / Math.sqrt(inputs);
      const a = new Float32Array(settings.rank * inputs);
      for (let i = 0; i < a.length; i++) a[i] = (random() * 2 - 1) * bound;
      pairs.set(module, { a, b: new Float32Array(out * settings.rank) });
    }
    layers.push(pairs);
  }
  return { settings, layers };
}

/** Mulberry32: a small seeded PRNG (the same seed gives the same adapter). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One module's matrices on the GPU: f32 buffers a (rank, in) and b (out, rank). */
export interface GpuLoraPair {
  a: GPUBuffer;
  b: GPUBuffer;
  out: number;
  in: number;
}

/** An adapter on the GPU, as the forward (core/gemma.ts) and training use it. */
export interface GpuLora {
  settings: LoraSettings;
  rank: number;
  /** s, times the --adapter-scale of inference. */
  scale: number;
  layers: Map<LoraModule, GpuLoraPair>[];
  /** (rows, rank) f32 scratch for x·Aᵀ; grown by recordLoraAdd when a call needs more rows. */
  scratch: GPUBuffer;
  destroy(): void;
}

export function uploadLora(
  gpu: GpuContext,
  config: GemmaConfig,
  tensors: LoraTensors,
  multiplier = 1,
): GpuLora {
  checkLoraSettings(tensors.settings);
  const rank = tensors.settings.rank;
  const layers = tensors.layers.map((pairs, layer) => {
    const out = new Map<LoraModule, GpuLoraPair>();
    for (const [module, pair] of pairs) {
      const [rows, cols] = moduleShape(config, module);
      out.set(module, {
        a: gpu.upload(pair.a, `lora ${layer} ${module} A`),
        b: gpu.upload(pair.b, `lora ${layer} ${module} B`),
        out: rows,
        in: cols,
      });
    }
    return out;
  });
  const lora: GpuLora = {
    settings: tensors.settings,
    rank,
    scale: loraScale(tensors.settings) * multiplier,
    layers,
    scratch: gpu.createBuffer(128 * rank * 4, "lora scratch"),
    destroy() {
      for (const pairs of layers) {
        for (const p of pairs.values()) {
          p.a.destroy();
          p.b.destroy();
        }
      }
      lora.scratch.destroy();
    },
  };
  return lora;
}

/** Reads an adapter's matrices back from the GPU (to save them). */
export async function downloadLora(gpu: GpuContext, lora: GpuLora): Promise<LoraTensors> {
  const layers: Map<LoraModule, LoraPair>[] = [];
  for (const pairs of lora.layers) {
    const out = new Map<LoraModule, LoraPair>();
    for (const [module, p] of pairs) {
      out.set(module, {
        a: await gpu.readF32(p.a, lora.rank * p.in),
        b: await gpu.readF32(p.b, p.out * lora.rank),
      });
    }
    layers.push(out);
  }
  return { settings: lora.settings, layers };
}

export interface LoraProductArgs {
  /** (rows, in) f32 input of the projection. */
  x: Binding;
  /** (rows, yStride) f32 output of the projection, added to in columns yOffset … + out. */
  y: GPUBuffer;
  rows: number;
  yOffset?: number;
  yStride?: number;
  /** (rows, rank) f32: receives s·x·Aᵀ (training keeps it for B's gradient). */
  h: GPUBuffer;
  scale: number;
  rank: number;
}

/** y[:, band] += (s·x·Aᵀ)·Bᵀ, leaving s·x·Aᵀ in args.h. */
export function recordLoraProduct(batch: GpuBatch, pair: GpuLoraPair, args: LoraProductArgs) {
  const { rows, rank } = args;
  matmul(batch, { x: args.x, w: f32Matrix(pair.a, rank, pair.in), y: args.h, rows });
  if (args.scale !== 1) scaleInPlace(batch, { x: args.h, count: rows * rank, factor: args.scale });
  matmul(batch, {
    x: args.h,
    w: f32Matrix(pair.b, pair.out, rank),
    y: args.y,
    rows,
    yOffset: args.yOffset,
    yStride: args.yStride,
    accumulate: true,
  });
}

/** The forward's hook: adds `module`'s product of `layer` to y, if the adapter has one there. */
export function recordLoraAdd(
  batch: GpuBatch,
  lora: GpuLora,
  layer: number,
  module: LoraModule,
  x: Binding,
  y: GPUBuffer,
  rows: number,
  yOffset = 0,
  yStride?: number,
): void {
  const pair = lora.layers[layer]?.get(module);
  if (!pair) return;
  const bytes = rows * lora.rank * 4;
  if (lora.scratch.size < bytes) {
    // The old buffer may still be bound by recorded commands: let it go with them.
    lora.scratch = batch.gpu.createBuffer(bytes, "lora scratch");
  }
  recordLoraProduct(batch, pair, {
    x,
    y,
    rows,
    yOffset,
    yStride: yStride ?? pair.out,
    h: lora.scratch,
    scale: lora.scale,
    rank: lora.rank,
  });
}

/** Whether the adapter sits on any of `modules` in `layer`. */
export function hasLora(lora: GpuLora | undefined, layer: number, ...modules: LoraModule[]) {
  const pairs = lora?.layers[layer];
  return pairs !== undefined && modules.some((m) => pairs.has(m));
}

/** The base weight name (layerTensorNames' key) of each module. */
const BASE_KEYS: Record<LoraModule, "q" | "k" | "v" | "o" | "gate" | "up" | "down"> = {
  q_proj: "q",
  k_proj: "k",
  v_proj: "v",
  o_proj: "o",
  gate_proj: "gate",
  up_proj: "up",
  down_proj: "down",
};

/**
 * Merges an adapter into float weights by name (W + m·s·B·A, m the adapter scale): what
 * the unmerged forward computes, for references and for `convert --adapter`.
 */
export function mergeLora(
  config: GemmaConfig,
  weights: Map<string, Float32Array>,
  tensors: LoraTensors,
  multiplier = 1,
): void {
  for (const [name, w] of weights) {
    const merged = mergeLoraTensor(config, name, w, tensors, multiplier);
    if (merged !== w) weights.set(name, merged);
  }
}

/**
 * One weight `name` (checkpoint name, [out, in]) with the adapter merged in: a new array, or `w`
 * itself when the adapter does not touch it.
 */
export function mergeLoraTensor(
  config: GemmaConfig,
  name: string,
  w: Float32Array,
  tensors: LoraTensors,
  multiplier = 1,
): Float32Array {
  const match = /^model\.layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.weight$/.exec(name);
  if (!match) return w;
  const layer = Number(match[1]);
  const module = match[2] as LoraModule;
  const pair = tensors.layers[layer]?.get(module);
  if (!pair || layerTensorNames(layer)[BASE_KEYS[module]] !== name) return w;
  const s = loraScale(tensors.settings) * multiplier;
  const r = tensors.settings.rank;
  const [out, inputs] = moduleShape(config, module);
  if (w.length !== out * inputs) throw new LoraError(`mergeLora: "${name}" has the wrong size`);
  const merged = Float32Array.from(w);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < r; j++) {
      const bj = s * pair.b[o * r + j];
      if (bj === 0) continue;
      for (let i = 0; i < inputs; i++) merged[o * inputs + i] += bj * pair.a[j * inputs + i];
    }
  }
  return merged;
}

// LoRA training on the GPU: per sequence a forward pass that keeps the residual stream at each
// layer boundary, the loss by the chunked cross-entropy of the tied head on the rows that have a
// target only (masked targets: −1; those rows are gathered into a compact buffer first, #loss),
// and a backward pass from the top that recomputes each layer from its input before its
// backward (layer.ts), producing only the adapter's gradients (the base stays frozen and, if it
// was, quantized). Gradients of the sequences of one optimizer step accumulate on the GPU; the
// step clips them by their global norm and applies AdamW (PyTorch's formula), all without a
// readback but the per-row losses.

import { GpuBatch } from "../../kernels/gpu.ts";
import { embed } from "../../kernels/embedding.ts";
import { rmsNorm } from "../../kernels/rms_norm.ts";
import {
  adamw,
  crossEntropy,
  gatherRows,
  gradNorm,
  rmsNormBackward,
  rowsWithTargets,
} from "../../kernels/backward.ts";
import { dropoutKey } from "../../kernels/dropout.ts";
import { activationRowElements, type Gemma } from "../weights.ts";
import {
  downloadLora,
  type GpuLora,
  LORA_MODULES,
  type LoraModule,
  type LoraTensors,
  uploadLora,
} from "../lora.ts";
import {
  type LayerPass,
  type LoraDropout,
  type LoraGrads,
  recordLayerBackward,
  recordLayerForward,
} from "./layer.ts";
import { createTrainWorkspace, type TrainWorkspace } from "./workspace.ts";

export class TrainError extends Error {
  override name = "TrainError";
}

/** One training sequence: token ids, and which of ids[1…] count in the loss (default all). */
export interface TrainExample {
  ids: number[];
  /** (ids.length) true where predicting ids[i] from ids[0…i−1] counts; index 0 is ignored. */
  lossMask?: boolean[];
}

export interface OptimizerOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decoupled weight decay (default 0, as mlx-lm's Adam). */
  weightDecay?: number;
  /** Clip the global gradient norm to this (0: no clipping; default 1, as HF Trainer). */
  maxGradNorm?: number;
}

export interface StepResult {
  /** Mean loss per target token over the step's sequences (before the update). */
  loss: number;
  /** Target tokens the loss was averaged over. */
  tokens: number;
  /** Tokens processed (inputs of every sequence). */
  inputTokens: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

/** Targets of an example: ids[1…], −1 where masked, padded with −1 to `rows`. */
export function exampleTargets(example: TrainExample, rows: number): Int32Array {
  const targets = new Int32Array(rows).fill(-1);
  for (let i = 1; i < example.ids.length; i++) {
    if (example.lossMask === undefined || example.lossMask[i]) targets[i - 1] = example.ids[i];
  }
  return targets;
}

export class LoraTrainer {
  readonly model: Gemma;
  readonly lora: GpuLora;
  readonly grads: LoraGrads;
  readonly ws: TrainWorkspace;
  /** Optimizer steps taken. */
  step = 0;
  /** Seed of LoRA dropout's masks (with the step, the pass in it, the layer and the module). */
  seed = 0;
  /** Set to profile the next sequence's forward and backward (GPU ms per section). */
  profileNext = false;
  /** The last profile taken: section → milliseconds. */
  lastProfile?: Map<string, number>;
  #moments: { m: GPUBuffer; v: GPUBuffer }[] = [];
  #partials: GPUBuffer;
  #clip: GPUBuffer;
  #buffers: GPUBuffer[] = [];
  /** Forward and backward passes of the current step so far (each draws its own masks). */
  #passes = 0;
  #dropped?: GPUBuffer;
  /** Rows of the loaded pack that have a target (the cross-entropy's rows). */
  #targetRows = 0;

  /**
   * `maxRows`: rows one forward and backward take: sequences (inputs: tokens − 1 each, padded to
   * the longest of a pack) are packed together up to this many rows.
   */
  constructor(model: Gemma, adapter: LoraTensors, maxRows: number) {
    this.model = model;
    const gpu = model.gpu;
    const fit = Math.floor(gpu.maxBindingBytes / (activationRowElements(model.config) * 4));
    if (maxRows > fit) {
      throw new TrainError(
        `${maxRows} rows of activations exceed the device's binding limit (${fit} rows); use shorter sequences or smaller batches`,
      );
    }
    this.lora = uploadLora(gpu, model.config, adapter);
    this.ws = createTrainWorkspace(model, maxRows, this.lora.rank);
    const zeros = (n: number, label: string) => {
      const b = gpu.createBuffer(n * 4, label);
      this.#buffers.push(b);
      return b;
    };
    this.grads = this.lora.layers.map((pairs, layer) => {
      const out = new Map<LoraModule, { a: GPUBuffer; b: GPUBuffer }>();
      for (const [module, p] of pairs) {
        const a = zeros(this.lora.rank * p.in, `grad ${layer} ${module} A`);
        const b = zeros(p.out * this.lora.rank, `grad ${layer} ${module} B`);
        out.set(module, { a, b });
        this.#moments.push(
          { m: zeros(this.lora.rank * p.in, "m"), v: zeros(this.lora.rank * p.in, "v") },
          { m: zeros(p.out * this.lora.rank, "m"), v: zeros(p.out * this.lora.rank, "v") },
        );
      }
      return out;
    });
    if ((adapter.settings.dropout ?? 0) > 0) {
      const c = model.config;
      const widest = Math.max(c.hiddenSize, c.intermediateSize, c.numHeads * c.headDim);
      this.#dropped = zeros(maxRows * widest, "lora dropout");
    }
    this.#partials = zeros(this.#params().length, "grad norm partials");
    this.#clip = zeros(2, "grad clip");
  }

  /** GPU memory in use while training: the model's weights, the workspace, the adapter, its
   * gradients and moments (all allocated up front, so this is also the peak). */
  get gpuBytes(): number {
    let adapter = 0;
    for (const pairs of this.lora.layers) {
      for (const p of pairs.values()) adapter += p.a.size + p.b.size;
    }
    const own = this.#buffers.reduce((sum, b) => sum + b.size, 0);
    return this.model.weightBytes + this.ws.bytes + adapter + own + this.lora.scratch.size;
  }

  /** Every parameter with its gradient, in a fixed order (layers, modules, A then B). */
  #params(): { param: GPUBuffer; grad: GPUBuffer; count: number }[] {
    const out: { param: GPUBuffer; grad: GPUBuffer; count: number }[] = [];
    this.lora.layers.forEach((pairs, layer) => {
      for (const [module, p] of pairs) {
        const g = this.grads[layer].get(module)!;
        out.push({ param: p.a, grad: g.a, count: this.lora.rank * p.in });
        out.push({ param: p.b, grad: g.b, count: p.out * this.lora.rank });
      }
    });
    return out;
  }

  /** Writes a pack of sequences (padded to the longest) into ws; returns its row count. */
  #load(pack: TrainExample[]): { rows: number; sequences: number } {
    const T = Math.max(...pack.map((e) => e.ids.length)) - 1;
    if (T < 1) throw new TrainError("a training sequence needs at least 2 tokens");
    const rows = T * pack.length;
    if (rows > this.ws.rows) {
      throw new TrainError(
        `${pack.length} sequences of up to ${
          T + 1
        } tokens exceed the trainer's ${this.ws.rows} rows`,
      );
    }
    const gpu = this.model.gpu;
    const ids = new Uint32Array(this.ws.rows);
    const targets = new Int32Array(this.ws.rows).fill(-1);
    const places = new Uint32Array(this.ws.rows * 2);
    pack.forEach((example, s) => {
      ids.set(example.ids.slice(0, T), s * T);
      targets.set(exampleTargets(example, T), s * T);
      for (let t = 0; t < T; t++) places.set([t, s], 2 * (s * T + t));
    });
    const compact = rowsWithTargets(targets.subarray(0, rows));
    this.#targetRows = compact.gather.length;
    gpu.write(this.ws.ids, ids);
    if (this.#targetRows > 0) {
      gpu.write(this.ws.targets, compact.targets);
      gpu.write(this.ws.gather, compact.gather);
    }
    gpu.write(this.ws.scatter, compact.scatter);
    gpu.write(this.ws.places, places);
    return { rows, sequences: pack.length };
  }

  /** Splits examples into packs that fit the workspace (in order). */
  #packs(examples: TrainExample[]): TrainExample[][] {
    const packs: TrainExample[][] = [];
    let current: TrainExample[] = [];
    let longest = 0;
    for (const example of examples) {
      const length = Math.max(longest, example.ids.length - 1);
      if (current.length > 0 && length * (current.length + 1) > this.ws.rows) {
        packs.push(current);
        current = [];
        longest = 0;
      }
      current.push(example);
      longest = Math.max(longest, example.ids.length - 1);
    }
    if (current.length > 0) packs.push(current);
    return packs;
  }

  /** LoRA dropout of the next training pass (its masks: seed, step, pass, layer, module). */
  #dropout(): LoraDropout | undefined {
    if (!this.#dropped) return undefined;
    const [seed, step, pass] = [this.seed, this.step + 1, this.#passes++];
    return {
      p: this.lora.settings.dropout!,
      key: (layer, module) => dropoutKey(seed, step, pass, layer, LORA_MODULES.indexOf(module)),
      dropped: this.#dropped,
    };
  }

  /**
   * Embedding and every layer forward; leaves the final-normed rows in ws.xFinal. `dropout`:
   * training's LoRA dropout (none in validation).
   */
  #forward(batch: GpuBatch, rows: number, sequences: number, dropout?: LoraDropout): LayerPass {
    const { model, ws } = this;
    const c = model.config;
    const places = { table: ws.places, lastPosition: rows / sequences - 1 };
    const pass: LayerPass = { batch, model, lora: this.lora, ws, rows, sequences, places, dropout };
    embed(batch, {
      ids: ws.ids,
      table: model.weights.embed,
      y: ws.h[0],
      rows,
      scale: Math.fround(Math.sqrt(c.hiddenSize)),
    });
    for (let layer = 0; layer < c.numLayers; layer++) recordLayerForward(pass, layer);
    rmsNorm(batch, {
      x: ws.h[c.numLayers],
      weight: model.weights.finalNorm,
      y: ws.xFinal,
      rows,
      dim: c.hiddenSize,
      eps: c.rmsNormEps,
    });
    return pass;
  }

  /**
   * The cross-entropy of the loaded pack's rows that have a target (gathered into a compact
   * buffer: with a masked prompt, or one label token per example, most rows have none and the
   * 262144-row head's product need not run on them); with `dHidden`, their gradient scattered
   * back into ws.dHidden, zeros in the other rows.
   */
  #loss(batch: GpuBatch, rows: number, gradScale?: number): void {
    const { model, ws } = this;
    const k = this.#targetRows;
    const dim = model.config.hiddenSize;
    gatherRows(batch, { index: ws.gather, x: ws.xFinal, y: ws.xCompact, rows: k, dim });
    if (k > 0) {
      crossEntropy(batch, {
        hidden: ws.xCompact,
        head: model.weights.embed,
        targets: ws.targets,
        loss: ws.loss,
        dHidden: gradScale === undefined ? undefined : ws.dCompact,
        gradScale,
        softcap: model.config.finalLogitSoftcap,
        workspace: ws.crossEntropy,
        rows: k,
      });
    }
    if (gradScale === undefined) return;
    gatherRows(batch, { index: ws.scatter, x: ws.dCompact, y: ws.dHidden, rows, dim });
  }

  async #lossSum(): Promise<number> {
    if (this.#targetRows === 0) return 0;
    const losses = await this.model.gpu.readF32(this.ws.loss, this.#targetRows);
    let sum = 0;
    for (const l of losses) sum += l;
    return sum;
  }

  /**
   * Forward and backward of a pack of sequences (together at most ws.rows rows once padded to
   * the longest): the gradient of gradScale · (their summed loss) is added to the adapter's
   * gradients (set, when `first`). Returns the summed loss.
   */
  async accumulate(pack: TrainExample[], gradScale: number, first: boolean): Promise<number> {
    const { rows, sequences } = this.#load(pack);
    const { model, ws } = this;
    const c = model.config;
    const profiling = this.profileNext;
    this.profileNext = false;
    const batch = profiling ? new GpuBatch(model.gpu, true) : model.gpu.batch();
    batch.mark("embedding");
    const pass = this.#forward(batch, rows, sequences, this.#dropout());
    batch.mark("cross-entropy (loss and dh)");
    this.#loss(batch, rows, gradScale);
    rmsNormBackward(batch, {
      x: ws.h[c.numLayers],
      weight: model.weights.finalNorm,
      dy: ws.dHidden,
      dx: ws.dh,
      rows,
      dim: c.hiddenSize,
      eps: c.rmsNormEps,
    });
    for (let layer = c.numLayers - 1; layer >= 0; layer--) {
      // The top layer's intermediates are still in ws from the forward pass.
      if (layer < c.numLayers - 1) recordLayerForward(pass, layer);
      recordLayerBackward(pass, this.grads, layer, !first);
    }
    if (profiling) {
      this.lastProfile = new Map([...await batch.profile()].map(([k, v]) => [k, v.ms]));
    } else batch.submit();
    return await this.#lossSum();
  }

  /** The summed loss of one sequence (validation: forward only). */
  async lossOf(example: TrainExample): Promise<number> {
    const { rows, sequences } = this.#load([example]);
    const batch = this.model.gpu.batch();
    this.#forward(batch, rows, sequences);
    this.#loss(batch, rows);
    batch.submit();
    return await this.#lossSum();
  }

  /**
   * Gradients of the mean loss over `examples` (per target token), accumulated on the GPU.
   * Returns the summed loss, the target count and the input tokens.
   */
  async computeGradients(examples: TrainExample[]) {
    const tokens = examples.reduce((n, e) => n + targetCount(e), 0);
    if (tokens === 0) throw new TrainError("no target tokens in the batch (all masked?)");
    let lossSum = 0;
    let inputTokens = 0;
    for (const [i, pack] of this.#packs(examples).entries()) {
      lossSum += await this.accumulate(pack, 1 / tokens, i === 0);
    }
    for (const example of examples) inputTokens += example.ids.length - 1;
    return { lossSum, tokens, inputTokens };
  }

  /** One optimizer step on the mean loss over `examples`. */
  async trainStep(examples: TrainExample[], options: OptimizerOptions): Promise<StepResult> {
    const { lossSum, tokens, inputTokens } = await this.computeGradients(examples);
    const loss = lossSum / tokens;
    if (!Number.isFinite(loss)) {
      throw new TrainError(`the loss became ${loss} at step ${this.step + 1}; no update applied`);
    }
    const gpu = this.model.gpu;
    const params = this.#params();
    const batch = gpu.batch();
    gradNorm(batch, {
      grads: params.map((p) => ({ buffer: p.grad, count: p.count })),
      partials: this.#partials,
      clip: this.#clip,
      maxNorm: options.maxGradNorm ?? 1,
    });
    this.step += 1;
    this.#passes = 0;
    params.forEach((p, i) => {
      adamw(batch, {
        param: p.param,
        grad: p.grad,
        m: this.#moments[i].m,
        v: this.#moments[i].v,
        count: p.count,
        step: this.step,
        clip: this.#clip,
        lr: options.lr,
        beta1: options.beta1,
        beta2: options.beta2,
        eps: options.eps,
        weightDecay: options.weightDecay ?? 0,
      });
    });
    batch.submit();
    const [, norm] = await gpu.readF32(this.#clip, 2);
    return { loss, tokens, inputTokens, gradNorm: norm };
  }

  /** The adapter's gradients, read back (layer → module → A, B), for tests. */
  async readGradients(): Promise<{ a: Float32Array; b: Float32Array }[]> {
    const out: { a: Float32Array; b: Float32Array }[] = [];
    for (const p of this.#params()) {
      const values = await this.model.gpu.readF32(p.grad, p.count);
      if (out.length === 0 || out[out.length - 1].b.length > 0) {
        out.push({ a: values, b: new Float32Array(0) });
      } else out[out.length - 1].b = values;
    }
    return out;
  }

  /**
   * Everything an optimizer step depends on besides the data: per parameter (named
   * `layer.module.A` / `.B`) its values and AdamW moments (`….exp_avg`, `….exp_avg_sq`).
   */
  async exportState(): Promise<Map<string, Float32Array>> {
    const gpu = this.model.gpu;
    const out = new Map<string, Float32Array>();
    const names = this.#paramNames();
    for (const [i, p] of this.#params().entries()) {
      out.set(names[i], await gpu.readF32(p.param, p.count));
      out.set(`${names[i]}.exp_avg`, await gpu.readF32(this.#moments[i].m, p.count));
      out.set(`${names[i]}.exp_avg_sq`, await gpu.readF32(this.#moments[i].v, p.count));
    }
    return out;
  }

  /** Restores exportState's tensors, taken after `step` optimizer steps. */
  importState(state: Map<string, Float32Array>, step: number): void {
    const gpu = this.model.gpu;
    const names = this.#paramNames();
    for (const [i, p] of this.#params().entries()) {
      const get = (name: string) => {
        const values = state.get(name);
        if (!values || values.length !== p.count) {
          throw new TrainError(`the training state lacks "${name}" of ${p.count} values`);
        }
        return values;
      };
      gpu.write(p.param, get(names[i]));
      gpu.write(this.#moments[i].m, get(`${names[i]}.exp_avg`));
      gpu.write(this.#moments[i].v, get(`${names[i]}.exp_avg_sq`));
    }
    this.step = step;
    this.#passes = 0;
  }

  #paramNames(): string[] {
    const names: string[] = [];
    this.lora.layers.forEach((pairs, layer) => {
      for (const module of pairs.keys()) names.push(`${layer}.${module}.A`, `${layer}.${module}.B`);
    });
    return names;
  }

  /** The adapter as it stands, read back. */
  async adapter(): Promise<LoraTensors> {
    return await downloadLora(this.model.gpu, this.lora);
  }

  destroy(): void {
    this.ws.destroy();
    this.lora.destroy();
    for (const b of this.#buffers) b.destroy();
  }
}

/**
 * Rows for a trainer that packs `batchSize` sequences of up to `longest` tokens into one forward
 * and backward where the device's bindings allow (and takes at least one whole sequence).
 */
export function packedRows(model: Gemma, batchSize: number, longest: number): number {
  const fit = Math.floor(model.gpu.maxBindingBytes / (activationRowElements(model.config) * 4));
  return Math.max(longest - 1, Math.min(batchSize * (longest - 1), fit));
}

export function targetCount(example: TrainExample): number {
  let n = 0;
  for (let i = 1; i < example.ids.length; i++) {
    if (example.lossMask === undefined || example.lossMask[i]) n++;
  }
  return n;
}

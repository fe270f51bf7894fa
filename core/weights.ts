// Gemma's weights on the GPU, loaded once from a checkpoint, streamed tensor by tensor.
//
// Activations are f32 everywhere; weights are f16 or f32 (`dtype`). Norm weights stay f32 and are
// stored as 1 + w, because Gemma's RMSNorm multiplies by (1 + w) and adding the 1 once at load
// time lets the kernel be plain RMSNorm.

import type { DType, GpuContext } from "../kernels/gpu.ts";
import { GpuError } from "../kernels/gpu.ts";
import {
  createMatrix,
  destroyMatrix,
  type GpuMatrix,
  isQuantized,
  matrixBytes,
  type WeightType,
  writeMatrixF16Rows,
  writeMatrixRows,
  writeQuantizedRows,
} from "../kernels/matrix.ts";
import { type Checkpoint, type CheckpointTensor, readWholeTensor } from "./checkpoint.ts";
import type { GemmaConfig } from "./config.ts";
import type { GpuLora } from "./lora.ts";
import { BLOCK_ELEMENTS, type QuantType } from "../kernels/quant.ts";
import { isSoftwareAdapter, tuneMatmul } from "../kernels/tune.ts";
import { addWeightTextures, fitsWeightTextures } from "../kernels/weight_texture.ts";
import { prepareMatmul } from "../kernels/matmul.ts";
import {
  EMBED_TENSOR,
  expectedTensorShapes,
  FINAL_NORM_TENSOR,
  layerTensorNames,
  mlpNormName,
} from "./tensor_names.ts";

export interface LayerWeights {
  attnNorm: GPUBuffer; //    (hidden) f32, 1 + w: before attention
  /**
   * (heads·headDim + 2·kvHeads·headDim, hidden): q, k and v stacked by rows, so that one matmul
   * makes all three; split into the runs of rows that share a weight type (a GGUF may quantize
   * them differently), each a matmul of its own.
   */
  qkv: GpuMatrix[];
  o: GpuMatrix; //            (hidden, heads·headDim)
  mlpNorm: GPUBuffer; //     (hidden) f32, 1 + w: before the MLP
  /** (2·ff, hidden): gate and up stacked the same way. */
  gateUp: GpuMatrix[];
  down: GpuMatrix; //         (hidden, ff)
  /** Gemma 2/3: (hidden) norms of the attention and MLP outputs. */
  attnOutNorm?: GPUBuffer;
  mlpOutNorm?: GPUBuffer;
  /** Gemma 3: (headDim) norms of each head's q and k. */
  qNorm?: GPUBuffer;
  kNorm?: GPUBuffer;
}

export interface GemmaWeights {
  /** (vocab, hidden): the token embedding, also the tied output head. */
  embed: GpuMatrix;
  layers: LayerWeights[];
  finalNorm: GPUBuffer; // (hidden) f32, 1 + w
}

export interface LoadOptions {
  /** Weight precision on the GPU; default f16 when the device has shader-f16, else f32. */
  dtype?: DType;
  /**
   * Quantize float weight matrices on load (q8_0 ≈ 8.5 bits, q4_0 ≈ 4.5 bits per weight).
   * A GGUF's quantized tensors always stay in their own format.
   */
  quant?: Extract<QuantType, "q8_0" | "q4_0">;
  /** Called after each tensor with bytes read so far and the total. */
  onProgress?: (loadedBytes: number, totalBytes: number) => void;
  /**
   * Compile the matmul pipelines of decode and short prefills during the load rather than on
   * first use, so that the first tokens stream at the steady pace (the CLI does).
   */
  prepare?: boolean;
  /**
   * Copy the quantized matrices into textures, which decode and short prefills then read
   * (kernels/weight_texture.ts: a second copy of them, for GEMVs up to 2× faster). Default: on a
   * software adapter, unless GEMMA_WEIGHT_TEXTURES=0.
   */
  weightTextures?: boolean;
}

export class Gemma {
  // The model: config, precision and GPU weights. The forward pass is in core/gemma.ts; the
  // state of one sequence (KV cache, scratch buffers) in core/session.ts.
  readonly gpu: GpuContext;
  readonly config: GemmaConfig;
  /** Precision of float weights (quantized ones keep their own block format). */
  readonly dtype: DType;
  readonly weights: GemmaWeights;
  /** A LoRA adapter the forward adds beside the base projections (core/lora.ts), if any. */
  lora?: GpuLora;

  constructor(gpu: GpuContext, config: GemmaConfig, dtype: DType, weights: GemmaWeights) {
    this.gpu = gpu;
    this.config = config;
    this.dtype = dtype;
    this.weights = weights;
  }

  /** Bytes of weights on the GPU. */
  get weightBytes(): number {
    const { embed, layers, finalNorm } = this.weights;
    let total = embed.bytes + finalNorm.size;
    for (const l of layers) {
      for (const m of layerMatrices(l)) total += m.bytes;
      for (const b of layerNorms(l)) total += b.size;
    }
    return total;
  }

  /** Bytes of the weight textures on the GPU (copies of quantized matrices, see loadGemma). */
  get weightTextureBytes(): number {
    let total = 0;
    for (const m of weightMatrices(this.weights)) {
      for (const c of m.chunks) if (c.texels) total += c.buffer.size;
    }
    return total;
  }

  destroy(): void {
    const { embed, layers, finalNorm } = this.weights;
    destroyMatrix(embed);
    finalNorm.destroy();
    for (const l of layers) {
      for (const m of layerMatrices(l)) destroyMatrix(m);
      for (const b of layerNorms(l)) b.destroy();
    }
  }
}

/**
 * Loads a checkpoint's weights onto the GPU. Each matrix is streamed from its file in pieces
 * of whole rows straight into its (chunked) GPU buffers, so the JS heap never holds more than
 * one piece. The checkpoint has already validated names and shapes.
 */
export async function loadGemma(
  gpu: GpuContext,
  checkpoint: Checkpoint,
  options: LoadOptions = {},
): Promise<Gemma> {
  const config = checkpoint.config;
  const dtype = options.dtype ?? (gpu.hasF16 ? "f16" : "f32");
  if (dtype === "f16" && !gpu.hasF16) {
    throw new GpuError(
      `--dtype f16 needs shader-f16, which "${gpu.adapterInfo.description}" lacks`,
    );
  }
  checkDeviceLimits(gpu, config);
  const infos = checkpoint.tensors;
  let total = 0;
  for (const info of infos.values()) total += info.byteLength;
  let loaded = 0;
  const tensor = (name: string): CheckpointTensor => {
    const info = infos.get(name);
    if (!info) throw new GpuError(`checkpoint has no tensor "${name}"`);
    return info;
  };
  const progress = (info: CheckpointTensor) => {
    loaded += info.byteLength;
    options.onProgress?.(loaded, total);
  };
  /** Writes tensor `name` into rows rowOffset… of m (created for its type, see storedType). */
  const load = async (name: string, m: GpuMatrix, rowOffset = 0): Promise<void> => {
    const info = tensor(name);
    if (info.rawRows && (info.quant || (info.dtype === "F16" && m.dtype === "f16"))) {
      // A quantized GGUF tensor stays in its own blocks, and f16 in the file and on the GPU
      // goes up as it is: raw bytes, piece by piece.
      for await (const { rowStart, bytes } of rawPieces(info, info.rawRows)) {
        if (info.quant) {
          writeQuantizedRows(gpu, m, rowOffset + rowStart, bytes);
        } else {
          const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
          writeMatrixF16Rows(gpu, m, rowOffset + rowStart, bits);
        }
      }
    } else {
      for await (const piece of info.rows({ maxBytes: PIECE_BYTES })) {
        writeMatrixRows(gpu, m, rowOffset + piece.rowStart, piece.values);
      }
    }
    progress(info);
  };
  const typeOf = (name: string) => storedType(tensor(name), dtype, options.quant);
  /** Tensors with the same columns stacked by rows: one matrix per run of the same type. */
  const stacked = async (names: string[]): Promise<GpuMatrix[]> => {
    const runs: string[][] = [];
    for (const name of names) {
      const run = runs.at(-1);
      if (run && typeOf(run[0]) === typeOf(name)) run.push(name);
      else runs.push([name]);
    }
    const matrices: GpuMatrix[] = [];
    for (const run of runs) {
      const shapes = run.map((name) => tensor(name).shape);
      const rows = shapes.reduce((sum, [r]) => sum + r, 0);
      const m = createMatrix(gpu, rows, shapes[0][1], typeOf(run[0]), run.join(" + "));
      if (isQuantized(m) && dtype === "f16") m.roundsToF16 = true;
      let rowOffset = 0;
      for (const [i, name] of run.entries()) {
        await load(name, m, rowOffset);
        rowOffset += shapes[i][0];
      }
      matrices.push(m);
    }
    return matrices;
  };
  const matrix = async (name: string): Promise<GpuMatrix> => (await stacked([name]))[0];
  const norm = async (name: string): Promise<GPUBuffer> => {
    const info = tensor(name);
    const w = await readWholeTensor(info);
    for (let i = 0; i < w.length; i++) w[i] += 1;
    progress(info);
    return gpu.upload(w, name);
  };

  const embed = await matrix(EMBED_TENSOR);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < config.numLayers; i++) {
    const n = layerTensorNames(i);
    const layer: LayerWeights = {
      attnNorm: await norm(n.attnNorm),
      qkv: await stacked([n.q, n.k, n.v]),
      o: await matrix(n.o),
      mlpNorm: await norm(mlpNormName(config, i)),
      gateUp: await stacked([n.gate, n.up]),
      down: await matrix(n.down),
    };
    if (config.sandwichNorms) {
      layer.attnOutNorm = await norm(n.attnOutNorm);
      layer.mlpOutNorm = await norm(n.mlpOutNorm);
    }
    if (config.qkNorm) {
      layer.qNorm = await norm(n.qNorm);
      layer.kNorm = await norm(n.kNorm);
    }
    layers.push(layer);
  }
  const finalNorm = await norm(FINAL_NORM_TENSOR);
  await gpu.device.queue.onSubmittedWorkDone();
  const matrices = weightMatrices({ embed, layers });
  if (options.weightTextures ?? defaultWeightTextures(gpu)) {
    for (const m of matrices) if (fitsWeightTextures(gpu, m)) addWeightTextures(gpu, m);
  }
  // Pick the decode kernel variant per weight type for this device: measured once per adapter
  // (about 2 s per type), then read from a cache file; GEMMA_NO_TUNE=1 keeps the defaults.
  await tuneMatmul(gpu, matrices.map((m) => m.dtype));
  if (options.prepare) { for (const m of matrices) prepareMatmul(gpu, m); }
  return new Gemma(gpu, config, dtype, { embed, layers, finalNorm });
}

/** Whether a model on `gpu` reads its quantized weights from textures unless told otherwise. */
function defaultWeightTextures(gpu: GpuContext): boolean {
  let setting: string | undefined;
  try {
    setting = Deno.env.get("GEMMA_WEIGHT_TEXTURES");
  } catch { /* no --allow-env: the default */ }
  if (setting === "0" || setting === "1") return setting === "1";
  return isSoftwareAdapter(gpu.adapterInfo);
}

/** Every weight matrix of a model: the embedding (also the head), then each layer's. */
function weightMatrices(weights: Pick<GemmaWeights, "embed" | "layers">): GpuMatrix[] {
  return [weights.embed, ...weights.layers.flatMap(layerMatrices)];
}

function layerMatrices(l: LayerWeights): GpuMatrix[] {
  return [...l.qkv, l.o, ...l.gateUp, l.down];
}

function layerNorms(l: LayerWeights): GPUBuffer[] {
  return [l.attnNorm, l.mlpNorm, l.attnOutNorm, l.mlpOutNorm, l.qNorm, l.kNorm].filter(
    (b): b is GPUBuffer => b !== undefined,
  );
}

/**
 * The type a weight matrix is stored as on the GPU: a quantized GGUF tensor keeps its type;
 * --quant applies where rows split into whole blocks; everything else takes the float dtype.
 */
function storedType(tensor: CheckpointTensor, dtype: DType, quant?: QuantType): WeightType {
  if (tensor.quant) return tensor.quant;
  const cols = tensor.shape[tensor.shape.length - 1];
  return quant && cols % BLOCK_ELEMENTS[quant] === 0 ? quant : dtype;
}

/** Bytes the weights of `checkpoint` take on the GPU when loaded with these options. */
export function gpuWeightBytes(checkpoint: Checkpoint, dtype: DType, quant?: QuantType): number {
  let total = 0;
  for (const name of expectedTensorShapes(checkpoint.config).keys()) {
    const tensor = checkpoint.tensors.get(name)!;
    const [rows, cols] = tensor.shape;
    if (tensor.shape.length === 1) {
      total += rows * 4; // norms: f32
      continue;
    }
    total += matrixBytes(rows, cols, storedType(tensor, dtype, quant));
  }
  return total;
}

/** Bytes read from a file and written to the GPU at a time while loading. */
const PIECE_BYTES = 16 * 2 ** 20;

/** A matrix's stored bytes (its `rawRows`), in pieces of whole rows of at most PIECE_BYTES. */
async function* rawPieces(
  info: CheckpointTensor,
  rawRows: (rowStart: number, rowCount: number) => Promise<Uint8Array>,
): AsyncGenerator<{ rowStart: number; bytes: Uint8Array }> {
  const rows = info.shape[0];
  const step = Math.max(1, Math.floor(PIECE_BYTES / (info.byteLength / rows)));
  for (let r = 0; r < rows; r += step) {
    yield { rowStart: r, bytes: await rawRows(r, Math.min(step, rows - r)) };
  }
}

/** Fails early, with the limit named, when the device cannot run this model's kernels. */
function checkDeviceLimits(gpu: GpuContext, config: GemmaConfig): void {
  const limits = gpu.device.limits;
  // attention_input.wgsl binds the most.
  if (limits.maxStorageBuffersPerShaderStage < 7) {
    throw new GpuError(
      `The device allows ${limits.maxStorageBuffersPerShaderStage} storage buffers per shader stage; gemma needs 7`,
    );
  }
  const widest = activationRowElements(config);
  if (widest * 4 > gpu.maxBindingBytes) {
    throw new GpuError(
      `The device's storage binding limit (${gpu.maxBindingBytes} bytes) is too small`,
    );
  }
}

/** Elements of the widest row of activations: the stacked gate and up projections, or q, k, v. */
export function activationRowElements(config: GemmaConfig): number {
  return Math.max(
    config.hiddenSize,
    2 * config.intermediateSize,
    (config.numHeads + 2 * config.numKvHeads) * config.headDim,
  );
}

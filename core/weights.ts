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
  matrixBytes,
  type WeightType,
  writeMatrixF16Rows,
  writeMatrixRows,
  writeQuantizedRows,
} from "../kernels/matrix.ts";
import { type Checkpoint, type CheckpointTensor, readWholeTensor } from "./checkpoint.ts";
import type { GemmaConfig } from "./config.ts";
import { BLOCK_ELEMENTS, type QuantType } from "../kernels/quant.ts";
import { tuneMatmul } from "../kernels/tune.ts";
import {
  EMBED_TENSOR,
  expectedTensorShapes,
  FINAL_NORM_TENSOR,
  layerTensorNames,
  mlpNormName,
} from "./tensor_names.ts";

export interface LayerWeights {
  attnNorm: GPUBuffer; //    (hidden) f32, 1 + w: before attention
  q: GpuMatrix; //            (heads·headDim, hidden)
  k: GpuMatrix; //            (kvHeads·headDim, hidden)
  v: GpuMatrix; //            (kvHeads·headDim, hidden)
  o: GpuMatrix; //            (hidden, heads·headDim)
  mlpNorm: GPUBuffer; //     (hidden) f32, 1 + w: before the MLP
  gate: GpuMatrix; //         (ff, hidden)
  up: GpuMatrix; //           (ff, hidden)
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
}

export class Gemma {
  // The model: config, precision and GPU weights. The forward pass is in core/gemma.ts; the
  // state of one sequence (KV cache, scratch buffers) in core/session.ts.
  readonly gpu: GpuContext;
  readonly config: GemmaConfig;
  /** Precision of float weights (quantized ones keep their own block format). */
  readonly dtype: DType;
  readonly weights: GemmaWeights;

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
      for (const m of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) total += m.bytes;
      for (const b of layerNorms(l)) total += b.size;
    }
    return total;
  }

  destroy(): void {
    const { embed, layers, finalNorm } = this.weights;
    destroyMatrix(embed);
    finalNorm.destroy();
    for (const l of layers) {
      for (const m of [l.q, l.k, l.v, l.o, l.gate, l.up, l.down]) destroyMatrix(m);
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
  const matrix = async (name: string): Promise<GpuMatrix> => {
    const info = tensor(name);
    const [rows, cols] = info.shape;
    if (info.quant && info.rawRows) {
      // A quantized GGUF tensor stays in its own blocks: copied as raw bytes, piece by piece.
      const m = createMatrix(gpu, rows, cols, info.quant, name);
      for await (const { rowStart, bytes } of rawPieces(info, info.rawRows)) {
        writeQuantizedRows(gpu, m, rowStart, bytes);
      }
      progress(info);
      return m;
    }
    // Quantize on load only where the rows split into whole blocks.
    const type = options.quant && cols % BLOCK_ELEMENTS[options.quant] === 0
      ? options.quant
      : dtype;
    const m = createMatrix(gpu, rows, cols, type, name);
    if (info.dtype === "F16" && type === "f16" && info.rawRows) {
      // f16 in the file and on the GPU: the bytes go up as they are.
      for await (const { rowStart, bytes } of rawPieces(info, info.rawRows)) {
        const bits = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
        writeMatrixF16Rows(gpu, m, rowStart, bits);
      }
    } else {
      for await (const piece of info.rows({ maxBytes: PIECE_BYTES })) {
        writeMatrixRows(gpu, m, piece.rowStart, piece.values);
      }
    }
    progress(info);
    return m;
  };
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
      q: await matrix(n.q),
      k: await matrix(n.k),
      v: await matrix(n.v),
      o: await matrix(n.o),
      mlpNorm: await norm(mlpNormName(config, i)),
      gate: await matrix(n.gate),
      up: await matrix(n.up),
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
  // Pick the decode kernel variant per weight type for this device: measured once per adapter
  // (about 2 s per type), then read from a cache file; GEMMA_NO_TUNE=1 keeps the defaults.
  const matrices = [embed, ...layers.flatMap((l) => [l.q, l.k, l.v, l.o, l.gate, l.up, l.down])];
  await tuneMatmul(gpu, matrices.map((m) => m.dtype));
  return new Gemma(gpu, config, dtype, { embed, layers, finalNorm });
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
  if (limits.maxStorageBuffersPerShaderStage < 6) {
    throw new GpuError(
      `The device allows ${limits.maxStorageBuffersPerShaderStage} storage buffers per shader stage; gemma needs 6`,
    );
  }
  const widest = Math.max(
    config.hiddenSize,
    config.intermediateSize,
    config.numHeads * config.headDim,
  );
  if (widest * 4 > gpu.maxBindingBytes) {
    throw new GpuError(
      `The device's storage binding limit (${gpu.maxBindingBytes} bytes) is too small`,
    );
  }
}

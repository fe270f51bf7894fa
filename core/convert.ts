// Checkpoint → GGUF, as llama.cpp's converter writes it: the model metadata, the full tokenizer
// (so that no tokenizer.json is needed) with the chat template, and the tensors under GGUF names
// with norms stored as 1 + w in f32 and the 2-D weights in the chosen type. Written atomically.

import type { QuantType } from "../kernels/quant.ts";
import { BLOCK_ELEMENTS } from "../kernels/quant.ts";
import type { Checkpoint } from "./checkpoint.ts";
import { readWholeTensor } from "./checkpoint.ts";
import type { GgufTensorToWrite, GgufTensorType } from "./gguf.ts";
import { writeGguf } from "./gguf.ts";
import { ggufMetadataFromConfig, ggufNameFromHf, ggufNormShift } from "./gguf_config.ts";
import { ggufTokenizerMetadata, tokenizerFilesFromGguf } from "./gguf_tokenizer.ts";
import { CheckpointError } from "./safetensors.ts";
import { expectedTensorShapes } from "./tensor_names.ts";
import { type LoraTensors, mergeLoraTensor } from "./lora.ts";

export type GgufOutputType = "f32" | "f16" | "bf16" | Extract<QuantType, "q8_0" | "q4_0">;

export interface ConvertOptions {
  /** Type of the 2-D weights (default f16). Norms are always f32, as in llama.cpp's files. */
  type?: GgufOutputType;
  /**
   * The type of one matrix by its Hugging Face name, where it differs from `type` (a mix like
   * llama.cpp's Q4_K_M, which keeps some tensors at higher precision); undefined: `type`.
   */
  typeOf?: (name: string) => GgufOutputType | undefined;
  /** general.name. */
  name?: string;
  /** A LoRA adapter merged into the weights (W + scale·s·B·A) on the way. */
  adapter?: { tensors: LoraTensors; scale?: number };
}

/** Writes `checkpoint` to `output` as GGUF v3. */
export async function convertToGguf(
  checkpoint: Checkpoint,
  output: string,
  options: ConvertOptions = {},
): Promise<void> {
  const config = checkpoint.config;
  const arch = config.modelType === "gemma3_text" ? "gemma3" : config.modelType;
  const type = (options.type ?? "f16").toUpperCase() as GgufTensorType;
  const { tokenizerJson, tokenizerConfig } = checkpoint.gguf
    ? tokenizerFilesFromGguf(checkpoint.gguf)
    : await readTokenizerFiles(checkpoint.dir);
  const metadata = [
    ...ggufMetadataFromConfig(config, { name: options.name, fileType: type }),
    ...ggufTokenizerMetadata(tokenizerJson, tokenizerConfig),
  ];
  const tensors: GgufTensorToWrite[] = [];
  for (const [name, shape] of expectedTensorShapes(config)) {
    const ggufName = ggufNameFromHf(name, arch);
    if (!ggufName) throw new CheckpointError(`Cannot convert: no GGUF name for "${name}"`);
    let values = await readWholeTensor(checkpoint.tensors.get(name)!);
    if (options.adapter) {
      const { tensors: lora, scale } = options.adapter;
      values = mergeLoraTensor(config, name, values, lora, scale ?? 1);
    }
    const shift = ggufNormShift(name);
    if (shift) { for (let i = 0; i < values.length; i++) values[i] += shift; }
    const own = options.typeOf?.(name)?.toUpperCase() as GgufTensorType | undefined;
    tensors.push({ name: ggufName, type: tensorType(own ?? type, shape), shape, data: values });
  }
  await writeGguf(output, { metadata, tensors });
}

/** 1-D tensors stay f32; a quantized type needs rows of whole blocks (else f16, like llama.cpp). */
function tensorType(type: GgufTensorType, shape: number[]): GgufTensorType {
  if (shape.length < 2) return "F32";
  const quant = type.toLowerCase() as QuantType;
  if (quant in BLOCK_ELEMENTS && shape[shape.length - 1] % BLOCK_ELEMENTS[quant] !== 0) {
    return "F16";
  }
  return type;
}

async function readTokenizerFiles(dir: string) {
  const read = async (name: string, required: boolean) => {
    try {
      return JSON.parse(await Deno.readTextFile(`${dir}/${name}`));
    } catch (error) {
      if (!required && error instanceof Deno.errors.NotFound) return {};
      throw new CheckpointError(
        `Cannot convert: cannot read "${dir}/${name}": ${(error as Error).message}`,
      );
    }
  };
  return {
    tokenizerJson: await read("tokenizer.json", true),
    tokenizerConfig: await read("tokenizer_config.json", false),
  };
}

// A GGUF file as a Checkpoint: its metadata becomes the same GemmaConfig as a config.json, its
// tensors are renamed to the canonical Hugging Face names, and its norm weights (stored as 1 + w
// by llama.cpp's converter) are shifted back to w so that every caller sees one convention.
// Quantized tensors also offer their raw blocks, so the loader can keep them quantized.

import type { Checkpoint, CheckpointTensor } from "./checkpoint.ts";
import { validateTensors } from "./checkpoint.ts";
import {
  GGUF_QUANT_TYPES,
  GGUF_READABLE_TYPES,
  ggufString,
  type GgufTensorInfo,
  readGguf,
  readGgufTensorBytes,
  readGgufTensorRows,
} from "./gguf.ts";
import { configFromGguf, ggufNormShift, hfNameFromGguf } from "./gguf_config.ts";
import { CheckpointError } from "./safetensors.ts";

export async function openGgufCheckpoint(path: string): Promise<Checkpoint> {
  const file = await readGguf(path);
  const config = configFromGguf(file);
  const arch = ggufString(file, "general.architecture")!;
  const tensors = new Map<string, CheckpointTensor>();
  const skipped: string[] = [];
  for (const info of file.tensors) {
    const name = hfNameFromGguf(info.name, arch);
    if (!name) {
      skipped.push(info.name);
      continue;
    }
    if (!GGUF_READABLE_TYPES.includes(info.type)) {
      throw new CheckpointError(
        `Cannot load "${path}": tensor "${info.name}" has unsupported type ${info.type}`,
      );
    }
    tensors.set(name, ggufTensor(name, info));
  }
  validateTensors(config, tensors, path);
  const slash = path.lastIndexOf("/");
  return {
    dir: slash >= 0 ? path.slice(0, slash) || "/" : ".",
    path,
    format: "gguf",
    config,
    tensors,
    skipped,
    generation: {},
    gguf: file,
  };
}

function ggufTensor(name: string, info: GgufTensorInfo): CheckpointTensor {
  const shift = ggufNormShift(name);
  const quant = GGUF_QUANT_TYPES[info.type];
  return {
    name,
    shape: info.shape,
    dtype: info.type,
    byteLength: info.byteLength,
    path: info.path,
    rows: shift === 0 ? (options) => readGgufTensorRows(info, options) : async function* (options) {
      for await (const piece of readGgufTensorRows(info, options)) {
        yield { rowStart: piece.rowStart, values: piece.values.map((v) => v - shift) };
      }
    },
    quant,
    rawRows: quant || (info.type === "F16" && shift === 0)
      ? (rowStart, rowCount) => readGgufTensorBytes(info, rowStart, rowCount)
      : undefined,
  };
}

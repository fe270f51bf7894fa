// LoRA adapters as Hugging Face PEFT writes and reads them: a folder with adapter_config.json
// (peft_type LORA, task_type CAUSAL_LM, r, lora_alpha, target_modules, use_rslora,
// base_model_name_or_path) and adapter_model.safetensors holding, per adapted projection,
//   base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight   [r, in]
//   base_model.model.model.layers.{i}.self_attn.q_proj.lora_B.weight   [out, r]
// (mlp.gate_proj … for the MLP). Reading accepts any prefix before "layers." (a multimodal
// Gemma 3 has model.language_model.layers) and checks every shape against the model.

import type { GemmaConfig } from "../config.ts";
import {
  LORA_MODULES,
  LoraError,
  type LoraModule,
  type LoraPair,
  type LoraSettings,
  type LoraTensors,
  moduleShape,
} from "../lora.ts";
import { readSafetensorsHeader, readTensor, writeSafetensors } from "../safetensors.ts";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";

function blockOf(module: LoraModule): "self_attn" | "mlp" {
  return module.startsWith("gate") || module.startsWith("up") || module.startsWith("down")
    ? "mlp"
    : "self_attn";
}

export function peftTensorName(layer: number, module: LoraModule, matrix: "A" | "B"): string {
  return `base_model.model.model.layers.${layer}.${
    blockOf(module)
  }.${module}.lora_${matrix}.weight`;
}

export interface WritePeftOptions {
  /** base_model_name_or_path: the checkpoint trained on. */
  baseModel: string;
  dropout?: number;
}

/** Writes `dir`/adapter_config.json and adapter_model.safetensors (each atomically). */
export async function writePeftAdapter(
  dir: string,
  tensors: LoraTensors,
  options: WritePeftOptions,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const s = tensors.settings;
  const list = [];
  for (const [layer, pairs] of tensors.layers.entries()) {
    for (const [module, pair] of pairs) {
      const r = s.rank;
      const inputs = pair.a.length / r;
      const out = pair.b.length / r;
      list.push(
        {
          name: peftTensorName(layer, module, "A"),
          dtype: "F32" as const,
          shape: [r, inputs],
          data: pair.a,
        },
        {
          name: peftTensorName(layer, module, "B"),
          dtype: "F32" as const,
          shape: [out, r],
          data: pair.b,
        },
      );
    }
  }
  await writeSafetensors(`${dir}/${ADAPTER_WEIGHTS}`, list, { format: "pt" });
  const config = {
    peft_type: "LORA",
    task_type: "CAUSAL_LM",
    base_model_name_or_path: options.baseModel,
    r: s.rank,
    lora_alpha: s.alpha,
    lora_dropout: options.dropout ?? 0,
    target_modules: s.modules,
    use_rslora: s.rsLora ?? false,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    modules_to_save: null,
    layers_to_transform: null,
  };
  const path = `${dir}/${ADAPTER_CONFIG}`;
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(config, null, 2) + "\n");
  await Deno.rename(`${path}.tmp`, path);
}

const NAME = /(?:^|\.)layers\.(\d+)\.(self_attn|mlp)\.(\w+)\.lora_([AB])(?:\.default)?\.weight$/;

/** Reads a PEFT LoRA folder for `config`'s model; a one-line LoraError on anything else. */
export async function readPeftAdapter(dir: string, config: GemmaConfig): Promise<LoraTensors> {
  const configPath = `${dir}/${ADAPTER_CONFIG}`;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await Deno.readTextFile(configPath));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new LoraError(`${configPath}: not found (--adapter takes a PEFT adapter folder)`);
    }
    throw new LoraError(`${configPath}: ${(error as Error).message}`);
  }
  if (json.peft_type !== undefined && json.peft_type !== "LORA") {
    throw new LoraError(`${configPath}: peft_type is ${json.peft_type}, only LORA is supported`);
  }
  const rank = json.r;
  const alpha = json.lora_alpha ?? rank;
  if (typeof rank !== "number" || !Number.isInteger(rank) || rank < 1) {
    throw new LoraError(`${configPath}: "r" must be a positive integer`);
  }
  if (typeof alpha !== "number") {
    throw new LoraError(`${configPath}: "lora_alpha" must be a number`);
  }
  if (json.use_dora) throw new LoraError(`${configPath}: DoRA adapters are not supported`);

  const weightsPath = `${dir}/${ADAPTER_WEIGHTS}`;
  let infos;
  try {
    infos = await readSafetensorsHeader(weightsPath);
  } catch (error) {
    throw new LoraError(`${weightsPath}: ${(error as Error).message.split("\n")[0]}`);
  }
  const layers: Map<LoraModule, Partial<LoraPair>>[] = Array.from(
    { length: config.numLayers },
    () => new Map(),
  );
  const modules = new Set<LoraModule>();
  for (const info of infos) {
    const match = NAME.exec(info.name);
    if (!match) {
      throw new LoraError(`${weightsPath}: tensor "${info.name}" is not a LoRA A or B matrix`);
    }
    const layer = Number(match[1]);
    const module = match[3] as LoraModule;
    if (!LORA_MODULES.includes(module)) {
      throw new LoraError(`${weightsPath}: "${info.name}" adapts ${module}, which Gemma lacks`);
    }
    if (layer >= config.numLayers) {
      throw new LoraError(
        `${weightsPath}: "${info.name}" is for layer ${layer}, but the model has ${config.numLayers} layers (an adapter for another model?)`,
      );
    }
    const [out, inputs] = moduleShape(config, module);
    const expected = match[4] === "A" ? [rank, inputs] : [out, rank];
    if (info.shape.length !== 2 || info.shape[0] !== expected[0] || info.shape[1] !== expected[1]) {
      throw new LoraError(
        `${weightsPath}: "${info.name}" has shape [${info.shape}], expected [${expected}] (an adapter for another model?)`,
      );
    }
    const values = await readTensor(info);
    const pair = layers[layer].get(module) ?? {};
    if (match[4] === "A") pair.a = values;
    else pair.b = values;
    layers[layer].set(module, pair);
    modules.add(module);
  }
  if (modules.size === 0) throw new LoraError(`${weightsPath}: no LoRA tensors`);
  const complete = layers.map((pairs, layer) => {
    const out = new Map<LoraModule, LoraPair>();
    for (const [module, pair] of pairs) {
      if (!pair.a || !pair.b) {
        throw new LoraError(
          `${weightsPath}: layer ${layer} ${module} lacks lora_${pair.a ? "B" : "A"}`,
        );
      }
      out.set(module, { a: pair.a, b: pair.b });
    }
    return out;
  });
  const settings: LoraSettings = {
    rank,
    alpha,
    modules: LORA_MODULES.filter((m) => modules.has(m)),
    rsLora: json.use_rslora === true,
  };
  return { settings, layers: complete };
}

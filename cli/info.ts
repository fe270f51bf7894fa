// `gemma info`: what a checkpoint is (config, parameters, bytes on disk and on the GPU) and what
// the WebGPU device offers.

import { Command } from "commander";
import {
  createGpuContext,
  type GemmaConfig,
  GpuError,
  gpuWeightBytes,
  openCheckpoint,
  parameterCount,
} from "../core/mod.ts";
import { describe } from "../kernels/gpu.ts";
import { resolveModel } from "./model_source.ts";

interface InfoFlags {
  model?: string;
  json?: boolean;
  quiet?: boolean;
}

export function infoCommand(): Command {
  return new Command("info")
    .description("show a model's configuration and size, and the GPU device")
    .option(
      "-m, --model <path>",
      "a model name (gemma3:270m, the default), a Hugging Face folder or a .gguf file",
    )
    .option("--json", "print JSON")
    .option("-q, --quiet", "no notices on stderr")
    .action(async (flags: InfoFlags) => {
      const checkpoint = await openCheckpoint((await resolveModel(flags)).path);
      const c = checkpoint.config;
      const dtypes: Record<string, number> = {};
      let fileBytes = 0;
      for (const t of checkpoint.tensors.values()) {
        dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
        fileBytes += t.byteLength;
      }
      const parameters = parameterCount(c);
      const device = await deviceInfo();
      const info = {
        model: checkpoint.path,
        config: c,
        parameters,
        tensor_dtypes: dtypes,
        file_bytes: fileBytes,
        gpu_weight_bytes: {
          f16: gpuWeightBytes(checkpoint, "f16"),
          f32: gpuWeightBytes(checkpoint, "f32"),
          q8_0: gpuWeightBytes(checkpoint, "f16", "q8_0"),
          q4_0: gpuWeightBytes(checkpoint, "f16", "q4_0"),
        },
        kv_cache_bytes_per_token: 2 * c.numLayers * c.numKvHeads * c.headDim * 4,
        device,
      };
      if (flags.json) {
        console.log(JSON.stringify(info, null, 2));
        return;
      }
      const gb = (n: number) =>
        n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
      const lines = [
        `model        ${checkpoint.path} (${checkpoint.format})`,
        `type         ${c.modelType}, ${c.numLayers} layers, hidden ${c.hiddenSize}, ff ${c.intermediateSize}`,
        `attention    ${c.numHeads} heads, ${c.numKvHeads} kv heads, head_dim ${c.headDim}, ` +
        `rope θ ${[...new Set(c.layerRopeTheta)].join("/")}${attentionExtras(c)}`,
        `vocabulary   ${c.vocabSize}, context ${c.maxPositions}`,
        `parameters   ${(parameters / 1e9).toFixed(3)} B`,
        `file         ${gb(fileBytes)} (${
          Object.entries(dtypes).map(([d, n]) => `${n} ${d}`).join(", ")
        })`,
        `on the GPU   ${
          Object.entries(info.gpu_weight_bytes).map(([t, n]) => `${gb(n)} as ${t}`).join(", ")
        }${checkpoint.format === "gguf" ? " (quantized tensors keep their type)" : ""}`,
        `KV cache     ${info.kv_cache_bytes_per_token} bytes per token`,
        device.error
          ? `device       none: ${device.error}`
          : `device       ${device.name} (shader-f16: ${device.shader_f16 ? "yes" : "no"}, ` +
            `max binding ${gb(device.max_storage_binding_bytes ?? 0)}, max buffer ${
              gb(device.max_buffer_bytes ?? 0)
            })`,
      ];
      console.log(lines.join("\n"));
    });
}

function attentionExtras(c: GemmaConfig): string {
  const local = c.layerWindows.filter((w) => w > 0);
  const parts = [];
  if (local.length) parts.push(`window ${local[0]} on ${local.length} of ${c.numLayers} layers`);
  if (c.attnLogitSoftcap) parts.push(`score softcap ${c.attnLogitSoftcap}`);
  if (c.finalLogitSoftcap) parts.push(`logit softcap ${c.finalLogitSoftcap}`);
  return parts.length ? `, ${parts.join(", ")}` : "";
}

async function deviceInfo() {
  try {
    const gpu = await createGpuContext();
    const limits = gpu.device.limits;
    const info = {
      name: describe(gpu.adapterInfo),
      shader_f16: gpu.hasF16,
      max_storage_binding_bytes: limits.maxStorageBufferBindingSize,
      max_buffer_bytes: limits.maxBufferSize,
      max_workgroup_storage_bytes: limits.maxComputeWorkgroupStorageSize,
      max_invocations_per_workgroup: limits.maxComputeInvocationsPerWorkgroup,
      error: undefined as string | undefined,
    };
    gpu.destroy();
    return info;
  } catch (error) {
    if (!(error instanceof GpuError)) throw error;
    return {
      name: undefined,
      shader_f16: undefined,
      max_storage_binding_bytes: undefined,
      max_buffer_bytes: undefined,
      error: error.message,
    };
  }
}

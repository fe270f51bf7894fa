// `gemma info`: what a checkpoint is (config, parameters, bytes on disk and on the GPU) and what
// the WebGPU device offers.

import { Command } from "commander";
import {
  createGpuContext,
  type GemmaConfig,
  GpuError,
  openCheckpoint,
  parameterCount,
} from "../core/mod.ts";
import { describe } from "../kernels/gpu.ts";
import { modelPath } from "./common.ts";

interface InfoFlags {
  model?: string;
  json?: boolean;
  quiet?: boolean;
}

export function infoCommand(): Command {
  return new Command("info")
    .description("show a model's configuration and size, and the GPU device")
    .option("-m, --model <path>", "Hugging Face model folder (default: the built-in demo model)")
    .option("--json", "print JSON")
    .option("-q, --quiet", "no notices on stderr")
    .action(async (flags: InfoFlags) => {
      const checkpoint = await openCheckpoint(modelPath(flags));
      const c = checkpoint.config;
      const dtypes: Record<string, number> = {};
      let fileBytes = 0;
      for (const t of checkpoint.tensors.values()) {
        dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + 1;
        fileBytes += t.byteLength;
      }
      const parameters = parameterCount(c);
      // Norm weights (2 per layer + the final one) stay f32; everything else takes the dtype.
      const normParameters = normCount(c);
      const gpuBytes = (bytes: number) =>
        (parameters - normParameters) * bytes + normParameters * 4;
      const device = await deviceInfo();
      const info = {
        model: checkpoint.dir,
        config: c,
        parameters,
        tensor_dtypes: dtypes,
        file_bytes: fileBytes,
        gpu_weight_bytes: { f16: gpuBytes(2), f32: gpuBytes(4) },
        kv_cache_bytes_per_token: 2 * c.numLayers * c.numKvHeads * c.headDim * 4,
        device,
      };
      if (flags.json) {
        console.log(JSON.stringify(info, null, 2));
        return;
      }
      const gb = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
      const lines = [
        `model        ${checkpoint.dir}`,
        `type         ${c.modelType}, ${c.numLayers} layers, hidden ${c.hiddenSize}, ff ${c.intermediateSize}`,
        `attention    ${c.numHeads} heads, ${c.numKvHeads} kv heads, head_dim ${c.headDim}, ` +
        `rope θ ${[...new Set(c.layerRopeTheta)].join("/")}${attentionExtras(c)}`,
        `vocabulary   ${c.vocabSize}, context ${c.maxPositions}`,
        `parameters   ${(parameters / 1e9).toFixed(3)} B`,
        `file         ${gb(fileBytes)} (${
          Object.entries(dtypes).map(([d, n]) => `${n} ${d}`).join(", ")
        })`,
        `on the GPU   ${gb(info.gpu_weight_bytes.f16)} as f16, ${
          gb(info.gpu_weight_bytes.f32)
        } as f32`,
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

/** Norm weights (kept in f32 on the GPU whatever the dtype). */
function normCount(c: GemmaConfig): number {
  const perLayer = (c.sandwichNorms ? 4 : 2) * c.hiddenSize + (c.qkNorm ? 2 * c.headDim : 0);
  return c.numLayers * perLayer + c.hiddenSize;
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

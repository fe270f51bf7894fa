// The decode GEMVs against a plain read, per weight type (a development tool, not a test):
//   ./deno run -A tools/gemv_bench.ts [--types f16,q8_0,q4_0,q4_k,q6_k] [--variants default|all]
//                                     [--repeats 5] [--shapes 16384x2048,2048x16384] [--textures]
// By default Gemma-2B's two MLP shapes (16384×2048 and 2048×16384; --shapes N×K,… for others, e.g.
// Gemma 3 270M's output head 262144x640 and MLP 2048x640,640x2048), weights filled with non-zero data (a
// software GPU can serve untouched zero pages from one cached page, which flatters a read), each
// timed on the GPU's timestamps like tools/profile.ts's plain read: the median of --repeats
// batches of 8 GEMVs (this machine is shared and its speed drifts). The plain read is measured
// the same way before and after the GEMVs (the better of the two). --textures times each
// quantized GEMV twice: reading the weight buffer, then the matrix's textures ("tex", see
// kernels/weight_texture.ts). Run it under each driver:
//   env $(bash tools/setup_mesa25.sh --print-env) ./deno run -A tools/gemv_bench.ts

import { parseArgs } from "node:util";
import { createGpuContext, describe, type GpuContext } from "../kernels/gpu.ts";
import { createMatrix, destroyMatrix, type GpuMatrix, type WeightType } from "../kernels/matrix.ts";
import {
  defaultMatmulVariant,
  matmul,
  type MatmulVariant,
  variantName,
} from "../kernels/matmul.ts";
import { matmulCandidates } from "../kernels/tune.ts";
import { addWeightTextures, fitsWeightTextures } from "../kernels/weight_texture.ts";
import { deviceReadBandwidth } from "./profile.ts";
import { describeLoadedDriver } from "./vulkan_drivers.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    types: { type: "string", default: "f16,q8_0,q4_0,q4_k,q6_k" },
    variants: { type: "string", default: "default" },
    repeats: { type: "string", default: "5" },
    shapes: { type: "string", default: "16384x2048,2048x16384" },
    textures: { type: "boolean", default: false },
  },
});
const types = flags.types.split(",") as WeightType[];
const repeats = Number(flags.repeats);
const shapes = flags.shapes.split(",").map((shape) => {
  const [n, k] = shape.split(/[x×]/).map(Number);
  if (!(n > 0 && k > 0 && k % 32 === 0)) {
    throw new Error(`--shapes: "${shape}" is not N×K with K a multiple of 32`);
  }
  return { n, k };
});

const gpu = await createGpuContext();
console.log(`device: ${describe(gpu.adapterInfo)}; ${describeLoadedDriver()}`);
const readBefore = await deviceReadBandwidth(gpu);
const rows: { type: string; variant: string; shape: string; gbs: number }[] = [];
for (const type of types) {
  const variants = flags.variants === "all"
    ? matmulCandidates(gpu, type)
    : [defaultMatmulVariant(type)];
  for (const { n, k } of shapes) {
    const w = createMatrix(gpu, n, k, type);
    fillNonZero(gpu, w);
    // With --textures, each variant reads the buffer, then the matrix's textures.
    const sources = flags.textures && fitsWeightTextures(gpu, w) ? ["buffer", "texture"] : [""];
    for (const source of sources) {
      if (source === "texture") addWeightTextures(gpu, w);
      for (const variant of variants) {
        const ms = await gemvMs(gpu, w, variant);
        rows.push({
          type,
          variant: `${variantName(variant)}${source === "texture" ? " tex" : ""}`,
          shape: `${n}×${k}`,
          gbs: w.bytes / (ms / 1000) / 1e9,
        });
      }
    }
    destroyMatrix(w);
  }
}
const read = Math.max(readBefore, await deviceReadBandwidth(gpu));
console.log(
  `plain read by a kernel: ${(read / 1e9).toFixed(2)} GB/s (before ${
    (readBefore / 1e9).toFixed(2)
  })`,
);
console.log("type  | variant         | shape       | GB/s  | % of plain read");
for (const r of rows) {
  console.log(
    `${r.type.padEnd(5)} | ${r.variant.padEnd(15)} | ${r.shape.padEnd(11)} | ${
      r.gbs.toFixed(2).padStart(5)
    } | ${(100 * r.gbs * 1e9 / read).toFixed(0).padStart(4)}%`,
  );
}
gpu.destroy();

/** Every byte of w's buffers set to f16 values in ±[0.5, 1): valid scales and weights alike. */
function fillNonZero(gpu: GpuContext, w: GpuMatrix) {
  const piece = new Uint16Array(2 ** 20).map((_, i) =>
    ((Math.imul(i + 1, 2654435761) >>> 16) & 0x83ff) | 0x3800
  );
  for (const chunk of w.chunks) {
    for (const buffer of [chunk.buffer, chunk.scales, chunk.high]) {
      if (!buffer) continue;
      for (let at = 0; at < buffer.size; at += piece.byteLength) {
        const bytes = Math.min(piece.byteLength, buffer.size - at);
        gpu.write(buffer, piece.subarray(0, bytes / 2), at);
      }
    }
  }
}

/** Median GPU-timed milliseconds of one GEMV (batches of 8), after a warm-up batch. */
async function gemvMs(gpu: GpuContext, w: GpuMatrix, variant: MatmulVariant): Promise<number> {
  const x = gpu.createBuffer(w.cols * 4);
  gpu.write(x, new Float32Array(w.cols).map((_, i) => ((i * 7919) % 1000) / 1000 - 0.5));
  const y = gpu.createBuffer(w.rows * 4);
  const batchMs = async () => {
    const batch = gpu.batch({ profile: true });
    batch.mark("gemv");
    for (let i = 0; i < 8; i++) matmul(batch, { x, w, y, rows: 1, variant });
    return (await batch.profile()).get("gemv")!.ms / 8;
  };
  await batchMs(); // compiles the pipeline
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) times.push(await batchMs());
  x.destroy();
  y.destroy();
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

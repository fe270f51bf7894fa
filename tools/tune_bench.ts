// Measures decode GEMV bandwidth per matmul variant (a development tool, not part of the CLI):
//   ./deno run -A tools/tune_bench.ts [types, e.g. f16,q8_0,q4_0] [all|default|tune] [head]
// "all": every candidate on the tuning shape and on Gemma-2B's 2048→16384 and 16384→2048 GEMVs
// (and the 256000×2048 head with "head"); "tune": the time tuneMatmul takes.

import { createGpuContext } from "../kernels/gpu.ts";
import type { WeightType } from "../kernels/matrix.ts";
import { variantName } from "../kernels/matmul.ts";
import { bytesPerWeight, matmulCandidates, measureMatmul, tuneMatmul } from "../kernels/tune.ts";

const types = (Deno.args[0] ?? "f16,q8_0,q4_0").split(",") as WeightType[];
const mode = Deno.args[1] ?? "all";
const gpu = await createGpuContext();

if (mode === "tune") {
  const start = performance.now();
  const choices = await tuneMatmul(gpu, types, { force: true, cachePath: null, verbose: true });
  console.log(`tuned in ${(performance.now() - start).toFixed(0)} ms:`);
  for (const [t, v] of choices) console.log(`  ${t}: ${variantName(v)}`);
} else {
  const shapes = [{ n: 16384, k: 2048 }, { n: 2048, k: 16384 }];
  if (Deno.args[2] === "head") shapes.push({ n: 256000, k: 2048 });
  for (const dtype of types) {
    const all = matmulCandidates(gpu, dtype);
    const variants = mode === "default" ? all.slice(0, 1) : all;
    for (const { n, k } of shapes) {
      const t0 = performance.now();
      const ms = await measureMatmul(gpu, dtype, variants, { n, k }, 5);
      const line = variants.map((v, i) =>
        `${variantName(v)} ${(n * k * bytesPerWeight(dtype) / ms[i] / 1e6).toFixed(2)}`
      );
      console.log(
        `${dtype} N=${n} K=${k} GB/s: ${line.join(" | ")}  (${
          (performance.now() - t0).toFixed(0)
        } ms)`,
      );
    }
  }
}
gpu.destroy();

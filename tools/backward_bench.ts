// Times the backward kernels on Gemma 3 270M's shapes (a development tool, not part of the CLI):
// hidden 640, 4 query heads and 1 kv head of 256, MLP 2048, vocabulary 262144, random weights.
// Each kernel runs once to compile, then `repeats` times; prints the best wall time per call.
//
//   ./deno run -A tools/backward_bench.ts [rows T, default 128] [repeats, default 2]

import { createGpuContext, type GpuBatch } from "../kernels/gpu.ts";
import { createMatrix, type WeightType } from "../kernels/matrix.ts";
import { matmul } from "../kernels/matmul.ts";
import {
  attentionBackward,
  createCrossEntropyWorkspace,
  crossEntropy,
  geluMulBackward,
  matmulInputGrad,
  matmulWeightGrad,
  rmsNormBackward,
} from "../kernels/backward.ts";

const rows = Number(Deno.args[0] ?? 128);
const repeats = Number(Deno.args[1] ?? 2);
const [hidden, heads, headDim, ff, vocab] = [640, 4, 256, 2048, 262144];
const gpu = await createGpuContext();
console.log(`${gpu.adapterInfo.description || gpu.adapterInfo.vendor}, T = ${rows}`);

const filled = (n: number) => gpu.upload(Float32Array.from({ length: n }, (_, i) => Math.sin(i)));

async function time(label: string, record: (batch: GpuBatch) => void, extra = ""): Promise<void> {
  let best = Infinity;
  for (let i = 0; i <= repeats; i++) {
    const start = performance.now();
    const batch = gpu.batch();
    record(batch);
    batch.submit();
    await gpu.device.queue.onSubmittedWorkDone();
    if (i > 0) best = Math.min(best, performance.now() - start);
  }
  console.log(`${label.padEnd(48)} ${best.toFixed(1).padStart(9)} ms ${extra}`);
}

const x = filled(rows * ff * 2);
const dy = filled(rows * ff * 2);
const dx = gpu.createBuffer(rows * ff * 2 * 4);
const scratch = gpu.createBuffer(2 * ff * hidden * 4);
const matmuls: [string, number, number, WeightType][] = [
  ["q_proj", heads * headDim, hidden, "q8_0"],
  ["gate+up", 2 * ff, hidden, "q8_0"],
  ["gate+up", 2 * ff, hidden, "q5_0"],
  ["down", hidden, ff, "q8_0"],
  ["down", hidden, ff, "q4_k"],
  ["down", hidden, ff, "f16"],
];
for (const [name, n, k, dtype] of matmuls) {
  const w = createMatrix(gpu, n, k, dtype);
  const flops = 2 * rows * n * k;
  await time(`matmul forward ${name} ${n}×${k} ${dtype}`, (b) => matmul(b, { x, w, y: dx, rows }));
  await time(
    `matmulInputGrad ${name} ${n}×${k} ${dtype}`,
    (b) => matmulInputGrad(b, { dy, w, dx, rows }),
    `(${(flops / 1e9).toFixed(2)} GFLOP)`,
  );
  await time(
    `matmulInputGrad through wᵀ ${name} ${n}×${k} ${dtype}`,
    (b) => matmulInputGrad(b, { dy, w, dx, rows, scratch }),
  );
}
await time(
  `matmulWeightGrad LoRA B 2048×16`,
  (b) => matmulWeightGrad(b, { dy, x, dw: dx, rows, n: 2048, k: 16 }),
);
await time(
  `matmulWeightGrad LoRA A 16×640`,
  (b) => matmulWeightGrad(b, { dy, x, dw: dx, rows, n: 16, k: 640 }),
);
await time(
  "rmsNormBackward 640",
  (b) => rmsNormBackward(b, { x, weight: x, dy, dx, rows, dim: hidden, eps: 1e-6 }),
);
await time(
  "geluMulBackward 2048",
  (b) => geluMulBackward(b, { gateUp: x, dy, dGateUp: dx, rows, width: ff }),
);
const q = filled(rows * heads * headDim);
const kv = filled(rows * headDim);
const dqkv = gpu.createBuffer(rows * (heads + 2) * headDim * 4);
const stats = gpu.createBuffer(rows * heads * 8);
for (const window of [0, 512]) {
  await time(
    `attentionBackward H4/1 D256${window ? " window 512" : ""}`,
    (b) =>
      attentionBackward(b, {
        q,
        k: kv,
        v: kv,
        dOut: q,
        dqkv,
        stats,
        rows,
        heads,
        kvHeads: 1,
        headDim,
        scale: 1 / 16,
        window,
      }),
  );
}
const targets = gpu.upload(Int32Array.from({ length: rows }, (_, t) => (t * 7919) % vocab));
const loss = gpu.createBuffer(rows * 4);
const dHidden = gpu.createBuffer(rows * hidden * 4);
const headFlops = 2 * rows * vocab * hidden;
// Kept exact (dtype f32: dh through the chunk decoded transposed) and rounded to f16 (the
// default dtype: each chunk decoded to f16 once for both products).
for (const roundsToF16 of [false, true]) {
  const head = createMatrix(gpu, vocab, hidden, "q8_0", "embedding");
  head.roundsToF16 = roundsToF16;
  const workspace = createCrossEntropyWorkspace(gpu, head, rows);
  const label = `crossEntropy V ${vocab} q8_0 ${roundsToF16 ? "as f16" : "exact"}`;
  await time(
    `${label}, loss`,
    (b) => crossEntropy(b, { hidden: x, head, targets, loss, workspace }),
    `(${(headFlops / 1e9).toFixed(1)} GFLOP, ${workspace.chunkRows}-row chunks)`,
  );
  await time(
    `${label}, loss + dHidden (${workspace.gradient})`,
    (b) => crossEntropy(b, { hidden: x, head, targets, loss, dHidden, workspace }),
    `(${(2 * headFlops / 1e9).toFixed(1)} GFLOP)`,
  );
  workspace.destroy();
}

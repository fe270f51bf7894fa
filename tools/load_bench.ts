// What a load costs on this device, by the shape of its addresses (a development tool, not a
// test): the facts behind the decode GEMVs' shares of the plain read on lavapipe (README, Mesa 25).
//   ./deno run -A tools/load_bench.ts
//   env $(bash tools/setup_mesa25.sh --print-env) ./deno run -A tools/load_bench.ts
// Each kernel runs 8-lane workgroups that XOR or multiply-add what they load; the figure is the
// bytes the lanes asked for per second (a uniform address counts once per lane), the best of 3
// timed dispatch batches. Rows:
//   side by side    lane l reads vec4 i·8 + l (the GEMVs' pattern), 1, 4 or 8 loads per iteration
//   own runs        lane l reads its own run of vec4s
//   uniform         every lane reads the same vec4 (storage buffer; then a uniform buffer)
//   u32 words       the side-by-side pattern, one 32-bit word per load
// and two compute rows: nibble codes decoded to f32 and multiply-added, against dot4I8Packed.

import { createGpuContext, describe } from "../kernels/gpu.ts";
import { describeLoadedDriver } from "./vulkan_drivers.ts";

const gpu = await createGpuContext();
const device = gpu.device;
console.log(`device: ${describe(gpu.adapterInfo)}; ${describeLoadedDriver()}`);

const BYTES = 64 * 2 ** 20;
const LANES = 8;
const PER_LANE = 1024; // vec4s each lane reads
const GROUPS = BYTES / 16 / (LANES * PER_LANE);
const words = device.createBuffer({
  size: BYTES,
  usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
});
// Non-zero data: a software GPU may serve untouched zero pages from one cached page.
device.queue.writeBuffer(
  words,
  0,
  new Uint32Array(BYTES / 4).map((_, i) => Math.imul(i + 1, 0x9e3779b1)),
);
const UNIFORM_VEC4S = 4096; // 64 KiB, the usual uniform binding limit
const uniform = device.createBuffer({
  size: UNIFORM_VEC4S * 16,
  usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
});
device.queue.writeBuffer(uniform, 0, new Uint32Array(UNIFORM_VEC4S * 4).fill(7));
const out = device.createBuffer({ size: GROUPS * LANES * 4 * 4, usage: GPUBufferUsage.STORAGE });

/** Milliseconds of the best of 3 batches of 4 dispatches of `code` over `groups` workgroups. */
async function time(code: string, input: GPUBuffer, groups: number): Promise<number> {
  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code }), entryPoint: "main" },
  });
  const bindings = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [{ binding: 0, resource: { buffer: input } }, {
      binding: 1,
      resource: { buffer: out },
    }],
  });
  const run = async (count: number) => {
    const encoder = device.createCommandEncoder();
    for (let i = 0; i < count; i++) {
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindings);
      pass.dispatchWorkgroups(groups);
      pass.end();
    }
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await run(1); // compiles
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const start = performance.now();
    await run(4);
    best = Math.min(best, (performance.now() - start) / 4);
  }
  return best;
}

/** A kernel XOR-ing PER_LANE vec4s (or as many u32 words), `unroll` loads per iteration. */
function loadKernel(index: (i: string) => string, unroll: number, element: string): string {
  const loads = Array.from({ length: unroll }, (_, j) => `a ^= w[${index(`i + ${j}u`)}];`);
  const zero = element === "u32" ? "0u" : "vec4<u32>(0u)";
  const fold = element === "u32" ? "a" : "a.x ^ a.y ^ a.z ^ a.w";
  return `
@group(0) @binding(0) var<storage, read> w: array<${element}>;
@group(0) @binding(1) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let base = g.x * ${LANES * PER_LANE}u;
  var a = ${zero};
  for (var i = 0u; i < ${PER_LANE}u; i += ${unroll}u) {
    ${loads.join("\n    ")}
  }
  o[g.x * ${LANES}u + l] = ${fold};
}`;
}

const gbs = (bytes: number, ms: number) => (bytes / (ms / 1000) / 1e9).toFixed(2).padStart(6);
const LANE_BYTES = GROUPS * LANES * PER_LANE * 16;
const rows: [string, (i: string) => string, string][] = [
  ["side by side", (i) => `base + (${i}) * 8u + l`, "vec4<u32>"],
  ["own runs", (i) => `base + l * ${PER_LANE}u + (${i})`, "vec4<u32>"],
  ["uniform", (i) => `base + (${i}) * 8u`, "vec4<u32>"],
];
console.log("loads (GB/s asked for by the lanes) | 1 per iteration | 4 | 8");
for (const [name, index, element] of rows) {
  const cells = [];
  for (const unroll of [1, 4, 8]) {
    cells.push(gbs(LANE_BYTES, await time(loadKernel(index, unroll, element), words, GROUPS)));
  }
  console.log(`${name.padEnd(35)} | ${cells.join(" | ")}`);
}
{
  const cells = [];
  for (const unroll of [1, 4, 8]) {
    const kernel = loadKernel((i) => `4u * base + (${i}) * 8u + l`, unroll, "u32");
    cells.push(gbs(LANE_BYTES / 4, await time(kernel, words, GROUPS)));
  }
  console.log(`${"u32 words, side by side".padEnd(35)} | ${cells.join(" | ")}`);
}
{
  // A uniform buffer, one address for all lanes (and the same from a storage buffer).
  const ITER = 2048;
  const kernel = (declaration: string) => `
${declaration}
@group(0) @binding(1) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  var a = vec4<u32>(l);
  for (var i = 0u; i < ${ITER}u; i++) {
    a ^= xs[(g.x + i) % ${UNIFORM_VEC4S}u];
  }
  o[g.x * ${LANES}u + l] = a.x ^ a.y ^ a.z ^ a.w;
}`;
  const groups = 2048;
  const bytes = groups * LANES * ITER * 16;
  const fromUniform = await time(
    kernel(`@group(0) @binding(0) var<uniform> xs: array<vec4<u32>, ${UNIFORM_VEC4S}>;`),
    uniform,
    groups,
  );
  const fromStorage = await time(
    kernel("@group(0) @binding(0) var<storage, read> xs: array<vec4<u32>>;"),
    words,
    groups,
  );
  console.log(
    `uniform address: uniform buffer ${gbs(bytes, fromUniform)}, storage buffer ${
      gbs(bytes, fromStorage)
    } GB/s`,
  );
}
{
  // 16 multiply-adds of 4-bit codes per iteration: decoded to f32, or as packed 8-bit integers.
  const ITER = 4096;
  const groups = 1024;
  const body = {
    "f32 from nibbles": `var acc = vec4<f32>(0.0); var w = l * 2654435761u;
  let x = vec4<f32>(f32(l), 1.5, 2.5, 3.5);
  for (var i = 0u; i < ${ITER}u; i++) {
    w = w * 1664525u + 1013904223u;
    let q = vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u);
    acc = fma(vec4<f32>(q & vec4<u32>(15u)), x, acc);
    acc = fma(vec4<f32>((q >> vec4<u32>(4u)) & vec4<u32>(15u)), x, acc);
    acc = fma(vec4<f32>((q >> vec4<u32>(1u)) & vec4<u32>(15u)), x, acc);
    acc = fma(vec4<f32>((q >> vec4<u32>(2u)) & vec4<u32>(15u)), x, acc);
  }
  o[g.x * 8u + l] = bitcast<u32>(acc.x + acc.y + acc.z + acc.w);`,
    "dot4I8Packed": `var acc = 0i; var w = l * 2654435761u; let x = l ^ 0x12345678u;
  for (var i = 0u; i < ${ITER}u; i++) {
    w = w * 1664525u + 1013904223u;
    acc += dot4I8Packed(w, x) + dot4I8Packed(w >> 4u, x ^ 7u) + dot4I8Packed(w >> 2u, x ^ 9u) +
      dot4I8Packed(w >> 1u, x ^ 3u);
  }
  o[g.x * 8u + l] = u32(acc);`,
  };
  const cells = [];
  for (const [name, code] of Object.entries(body)) {
    const ms = await time(
      `@group(0) @binding(0) var<storage, read> unused: array<u32>;
@group(0) @binding(1) var<storage, read_write> o: array<u32>;
@compute @workgroup_size(${LANES})
fn main(@builtin(workgroup_id) g: vec3<u32>, @builtin(local_invocation_index) l: u32) {
  let keep = unused[0] & 0u;
  ${code.replace("var acc", "_ = keep;\n  var acc")}
}`,
      words,
      groups,
    );
    cells.push(`${name} ${(groups * LANES * ITER * 16 / (ms / 1000) / 1e9).toFixed(2)}`);
  }
  console.log(`multiply-adds of 4-bit codes (G/s): ${cells.join(", ")}`);
}

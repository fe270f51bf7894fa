// `deno task bench`: gemma against llama.cpp on the same machine, in one run. Builds (once, into
// .cache/) a Gemma-2B-shaped random checkpoint — hidden 2048, ff 16384, 8 heads, 1 KV head,
// head_dim 256, vocabulary 256000; fewer layers (--layers, default 2) so that it finishes in
// minutes on a software GPU — exports it to GGUF as F16, Q8_0 and Q4_0, and measures prefill
// and decode tokens/s of gemma (WebGPU), llama.cpp's Vulkan backend (same device: lavapipe here)
// and llama.cpp's CPU backend, alternating engines run by run, medians of --runs. Then it prints
// the time shares of one gemma decode step by kernel, and the decode GEMVs' bytes/s against a
// plain read of memory by a kernel on the same device, and against a memcpy on the CPU.
// Batched decoding (--parallel 1,8): aggregate decode tokens/s of N sequences decoded together,
// gemma's SequenceBatch against llama.cpp's own parallel sequences (node-llama-cpp), each
// sequence after its own --parallel-prompt tokens.
//
// A type may also name a known model (gemma3:270m, the real Gemma 3 270M Q4_K_M from the model
// cache) or a .gguf file: then that file runs instead of the random checkpoint.
// --drivers system,mesa25 runs the whole bench once per Vulkan driver, each in a child process
// whose environment selects that driver for gemma and llama.cpp alike (tools/vulkan_drivers.ts;
// mesa25 is the private lavapipe of tools/setup_mesa25.sh), and prints each driver's tables with
// its own plain read.
//
//   ./deno task bench [--layers 2] [--prompt 512] [--decode 128] [--runs 3]
//                     [--types f16,q8_0,q4_0,gemma3:270m] [--engines gemma,llama-vulkan,llama-cpu]
//                     [--threads 2] [--parallel 1,8] [--parallel-prompt 64]
//                     [--drivers system,mesa25]

import { parseArgs } from "node:util";
import { describe } from "../kernels/gpu.ts";
import {
  createGpuContext,
  ensureModel,
  findKnownModel,
  type Gemma,
  GemmaSession,
  loadGemma,
  openCheckpoint,
  SequenceBatch,
  StepQueue,
} from "../core/mod.ts";
import { convertToGguf, type GgufOutputType } from "../core/convert.ts";
import { buildTinyModel } from "../tests/fixtures.ts";
import { runLlama } from "../tests/llama_reference.ts";
import {
  decodeStepRecording,
  deviceReadBandwidth,
  memoryCopyBandwidth,
  profileDecodeStep,
} from "./profile.ts";
import {
  describeLoadedDriver,
  driverEnv,
  DriverError,
  type DriverName,
  parseDrivers,
} from "./vulkan_drivers.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    layers: { type: "string", default: "2" },
    prompt: { type: "string", default: "512" },
    decode: { type: "string", default: "128" },
    runs: { type: "string", default: "3" },
    types: { type: "string", default: "f16,q8_0,q4_0,gemma3:270m" },
    engines: { type: "string", default: "gemma,llama-vulkan,llama-cpu" },
    threads: { type: "string", default: "2" },
    parallel: { type: "string", default: "1,8" },
    "parallel-prompt": { type: "string", default: "64" },
    drivers: { type: "string", default: "system" },
  },
});
// The child that runs one driver's bench is told so by GEMMA_BENCH_DRIVER (see benchPerDriver).
const driverHere = Deno.env.get("GEMMA_BENCH_DRIVER");
let drivers: DriverName[];
try {
  drivers = parseDrivers(flags.drivers);
  if (!driverHere) drivers.forEach((driver) => driverEnv(driver)); // all set up, before any run
} catch (error) {
  if (!(error instanceof DriverError)) throw error;
  console.error(`bench: ${error.message}`);
  Deno.exit(1);
}
if (!driverHere && (drivers.length > 1 || drivers[0] !== "system")) {
  Deno.exit(await benchPerDriver(drivers));
}
const layers = Number(flags.layers);
const promptTokens = Number(flags.prompt);
const decodeTokens = Number(flags.decode);
const runs = Number(flags.runs);
const types = flags.types.split(",");
const engines = flags.engines.split(",");
const threads = Number(flags.threads);
const parallelCounts = flags.parallel ? flags.parallel.split(",").map(Number) : [];
const parallelPrompt = Number(flags["parallel-prompt"]);

const cache = new URL(`../.cache/bench-gemma-2b-${layers}-layers`, import.meta.url).pathname;
const isFile = (type: string) => type.endsWith(".gguf");
const isRandom = (type: string) => !findKnownModel(type) && !isFile(type);
/** A type's name in the tables: a file by its base name. */
const label = (type: string) =>
  isFile(type) ? type.slice(type.lastIndexOf("/") + 1, -".gguf".length) : type;
if (types.some(isRandom)) await ensureCheckpoint(cache);
const prompt = Array.from({ length: promptTokens }, (_, i) => 1000 + ((i * 7919) % 200000));
prompt[0] = 2;

interface Result {
  prefill: number[];
  decode: number[];
}
const results = new Map<string, Result>();
// Read bandwidths to judge the decode GEMVs against (see printProfile). The plain read by a
// kernel is measured before any model is loaded and again after the first profile; the faster
// of the two counts (after the models ran it has read as low as 60% of a fresh process's).
let deviceRead: number | undefined;
let cpuCopy: number | undefined;
const record = (key: string, prefill: number, decode: number) => {
  const r = results.get(key) ?? { prefill: [], decode: [] };
  r.prefill.push(prefill);
  r.decode.push(decode);
  results.set(key, r);
};

const gpu = await createGpuContext();
console.log(
  `device: ${describe(gpu.adapterInfo)}; ${describeLoadedDriver()}; ` +
    `${Deno.build.os} ${Deno.build.arch}`,
);
const freshDeviceRead = await deviceReadBandwidth(gpu);
// Each type's decode GEMVs as a share of the plain read (printProfile fills it).
const gemvShares = new Map<string, number>();
const shapes = types.some(isRandom) ? `the Gemma-2B shape with ${layers} layers` : "";
console.log(
  `models: ${[shapes, ...types.filter((t) => !isRandom(t))].filter(Boolean).join(", ")}; ` +
    `prompt ` +
    `${promptTokens} tokens, decode ${decodeTokens} tokens; medians of ${runs} runs, engines alternating`,
);

for (const type of types) {
  const known = findKnownModel(type);
  const gguf = known
    ? await ensureModel(known)
    : isFile(type)
    ? type
    : `${cache}/model-${type}.gguf`;
  if (isRandom(type)) await ensureGguf(gguf, type as GgufOutputType);
  const checkpoint = await openCheckpoint(gguf);
  // Peak resident memory while loading, against the bytes the weights take on the GPU (on a
  // software GPU both live in the same RAM; the aim is no more than 1.3× of it).
  let peakRss = Deno.memoryUsage().rss;
  const rssBefore = peakRss;
  const loadStart = performance.now();
  const model = engines.includes("gemma")
    ? await loadGemma(gpu, checkpoint, {
      onProgress: () => peakRss = Math.max(peakRss, Deno.memoryUsage().rss),
    })
    : undefined;
  if (model) {
    peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
    const gpuBytes = model.weightBytes + model.weightTextureBytes;
    const textures = model.weightTextureBytes > 0
      ? ` (+ ${(model.weightTextureBytes / 2 ** 30).toFixed(2)} GiB of weight textures)`
      : "";
    console.log(
      `${label(type)}: loaded ${
        (model.weightBytes / 2 ** 30).toFixed(2)
      } GiB of weights${textures} in ${
        ((performance.now() - loadStart) / 1000).toFixed(1)
      } s; peak resident memory grew by ${((peakRss - rssBefore) / 2 ** 30).toFixed(2)} GiB (${
        ((peakRss - rssBefore) / gpuBytes).toFixed(2)
      }× the GPU bytes)`,
    );
  }
  const session = model &&
    new GemmaSession(model, { contextLength: promptTokens + decodeTokens + 8 });
  for (let run = 0; run <= runs; run++) {
    for (const engine of engines) {
      let prefillS: number, decodeS: number;
      if (engine === "gemma") {
        [prefillS, decodeS] = await timeGemma(session!);
      } else {
        const [t] = await runLlama({
          model: gguf,
          gpu: engine === "llama-vulkan" ? "vulkan" : false,
          threads,
          contextSize: promptTokens + decodeTokens + 8,
          kvCacheType: "F16",
          tasks: [{ type: "time", tokens: prompt, count: decodeTokens + 1 }],
        });
        [prefillS, decodeS] = [t.prefillMs / 1000, t.decodeMs / 1000];
      }
      // Run 0 warms up (shader compilation, first touch of the weights) and is not counted.
      if (run > 0) {
        record(`${label(type)} ${engine}`, promptTokens / prefillS, decodeTokens / decodeS);
      }
    }
  }
  for (const n of parallelCounts) {
    const prompts = Array.from({ length: n }, (_, s) => prompt.slice(s, s + parallelPrompt));
    for (const p of prompts) p[0] = 2;
    for (let run = 0; run <= runs; run++) {
      for (const engine of engines) {
        let prefillS: number, decodeS: number;
        if (engine === "gemma") {
          [prefillS, decodeS] = await timeGemmaBatch(model!, prompts);
        } else {
          const [t] = await runLlama({
            model: gguf,
            gpu: engine === "llama-vulkan" ? "vulkan" : false,
            threads,
            contextSize: parallelPrompt + decodeTokens + 8,
            kvCacheType: "F16",
            tasks: [{ type: "parallel", prompts, count: decodeTokens + 1 }],
          });
          [prefillS, decodeS] = [t.prefillMs / 1000, t.decodeMs / 1000];
        }
        const tokens = n * parallelPrompt;
        if (run > 0) {
          record(`${label(type)} ×${n} ${engine}`, tokens / prefillS, n * decodeTokens / decodeS);
        }
      }
    }
  }
  if (session && model) {
    await printProfile(session, label(type));
    session.destroy();
    model.destroy();
  }
}

console.log(
  `\n${driverHere ?? "system"} driver: ${describeLoadedDriver()}; plain read by a kernel ${
    ((deviceRead ?? freshDeviceRead) / 1e9).toFixed(2)
  } GB/s`,
);
console.log(
  "type           | engine       | prefill tok/s | decode tok/s | prefill × llama | decode × llama" +
    " | GEMVs",
);
console.log(
  "               |              |               |              | vulkan   cpu    | vulkan   cpu  " +
    " | % read",
);
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rowNames = types.map(label).flatMap((name) => [
  name,
  ...parallelCounts.map((n) => `${name} ×${n}`),
]);
for (const type of rowNames) {
  for (const engine of engines) {
    const r = results.get(`${type} ${engine}`);
    if (!r) continue;
    const ratio = (other: string, field: keyof Result) => {
      const o = results.get(`${type} ${other}`);
      return o ? (median(r[field]) / median(o[field])).toFixed(2).padStart(6) : "     -";
    };
    console.log(
      [
        type.padEnd(14),
        engine.padEnd(12),
        median(r.prefill).toFixed(2).padStart(13),
        median(r.decode).toFixed(2).padStart(12),
        `${ratio("llama-vulkan", "prefill")} ${ratio("llama-cpu", "prefill")}   `,
        `${ratio("llama-vulkan", "decode")} ${ratio("llama-cpu", "decode")}`,
        engine === "gemma" && gemvShares.has(type)
          ? `${(100 * gemvShares.get(type)!).toFixed(0).padStart(5)}%`
          : "",
      ].join(" | "),
    );
  }
}
gpu.destroy();

/** Prefill: until the first token is known; decode: the next decodeTokens, greedy as `generate`. */
async function timeGemma(session: GemmaSession): Promise<[number, number]> {
  session.reset();
  const start = performance.now();
  let firstToken = 0;
  session.append(prompt);
  await session.decode(decodeTokens + 1, () => {
    firstToken ||= performance.now();
    return true;
  });
  return [(firstToken - start) / 1000, (performance.now() - firstToken) / 1000];
}

/** N sequences: prefill each, then decodeTokens steps of all N together (aggregate tok/s). */
async function timeGemmaBatch(model: Gemma, prompts: number[][]): Promise<[number, number]> {
  const batch = new SequenceBatch(model, {
    sequences: prompts.length,
    contextLength: parallelPrompt + decodeTokens + 8,
  });
  const start = performance.now();
  prompts.forEach((p, s) => batch.prefill(s, p, {}));
  await batch.readPick(prompts.length - 1); // after every prefill (the queue runs in order)
  const firstTokens = performance.now();
  const rows = prompts.map((_, sequence) => ({ sequence, pick: {} }));
  // Pipelined as generateMany runs its steps: the next ones queue while a step's tokens travel.
  const queued = new StepQueue(await model.gpu.readbackLatencyMs());
  for (let i = 0; i < decodeTokens || queued.length > 0;) {
    if (i < decodeTokens && queued.hasRoom(false)) {
      queued.push({ tokens: batch.step(rows) });
      i++;
    } else {
      await queued.next();
    }
  }
  const end = performance.now();
  batch.destroy();
  return [(firstTokens - start) / 1000, (end - firstTokens) / 1000];
}

async function printProfile(session: GemmaSession, type: string) {
  const profile = await profileDecodeStep(session);
  const total = [...profile.values()].reduce((a, b) => a + b.ms, 0);
  const recording = decodeStepRecording(session);
  deviceRead ??= Math.max(freshDeviceRead, await deviceReadBandwidth(gpu));
  cpuCopy ??= memoryCopyBandwidth();
  console.log(
    `\none gemma decode step (${type} weights): ${total.toFixed(1)} ms; ` +
      `${recording.commands} commands, recorded in ${recording.ms.toFixed(2)} ms of CPU`,
  );
  console.log("kernel                 | share  |   ms   | weight GB/s | % of plain read");
  for (const [label, { ms, bytes }] of [...profile].sort((a, b) => b[1].ms - a[1].ms)) {
    const bytesPerS = bytes / (ms / 1000);
    const rate = bytes ? (bytesPerS / 1e9).toFixed(2).padStart(11) : "";
    const ofRead = bytes ? `${(100 * bytesPerS / deviceRead).toFixed(0).padStart(5)}%` : "";
    console.log(
      `${label.padEnd(22)} | ${(100 * ms / total).toFixed(1).padStart(5)}% | ${
        ms.toFixed(2).padStart(6)
      } | ${rate}${bytes ? " | " : ""}${ofRead}`,
    );
  }
  const gemvMs = [...profile.values()].reduce((a, b) => a + (b.bytes ? b.ms : 0), 0);
  const gemvBytes = [...profile.values()].reduce((a, b) => a + b.bytes, 0);
  const rate = gemvBytes / (gemvMs / 1000);
  gemvShares.set(type, rate / deviceRead);
  const gb = (bytesPerS: number) => `${(bytesPerS / 1e9).toFixed(2)} GB/s`;
  const share = (bytesPerS: number) => `${(100 * rate / bytesPerS).toFixed(0)}%`;
  console.log(
    `decode GEMVs: ${gb(rate)} over ${(gemvBytes / 2 ** 30).toFixed(2)} GiB, ` +
      `${share(deviceRead)} of a plain read by a kernel on this device (${gb(deviceRead)}), ` +
      `${share(cpuCopy)} of a memcpy on the CPU (${gb(cpuCopy)})`,
  );
}

/**
 * Runs this bench once per driver, one after the other, each in a child process (a process
 * picks its Vulkan driver once, when it first loads Vulkan) with the same arguments and that
 * driver's environment; their tables print as they finish. Returns the first failing exit code.
 */
async function benchPerDriver(drivers: DriverName[]): Promise<number> {
  for (const driver of drivers) {
    console.log(`\n=== driver ${driver} ===`);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        new URL(import.meta.url).pathname,
        ...Deno.args,
        `--drivers=${driver}`, // the last --drivers wins
      ],
      env: { ...driverEnv(driver), GEMMA_BENCH_DRIVER: driver },
      stdout: "inherit",
      stderr: "inherit",
    });
    const { code } = await child.output();
    if (code !== 0) {
      console.error(`bench: the ${driver} driver's run failed (exit code ${code})`);
      return code;
    }
  }
  return 0;
}

async function ensureCheckpoint(dir: string) {
  try {
    await Deno.stat(`${dir}/config.json`);
    return;
  } catch { /* build it */ }
  console.error(`building a Gemma-2B-shaped random checkpoint with ${layers} layers in ${dir}`);
  await buildTinyModel(dir, {
    hiddenSize: 2048,
    intermediateSize: 16384,
    numLayers: layers,
    numHeads: 8,
    numKvHeads: 1,
    headDim: 256,
    vocabSize: 256000,
    dtype: "BF16",
    seed: 11,
  });
}

async function ensureGguf(path: string, type: GgufOutputType) {
  try {
    await Deno.stat(path);
    return;
  } catch { /* convert */ }
  console.error(`converting to ${path}`);
  await convertToGguf(await openCheckpoint(cache), path, { type });
}

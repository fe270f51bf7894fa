// Per-device kernel tuning: which matmul variant (loop, rows and lanes per workgroup, see
// matmul.ts) runs a decode GEMV (T = 1) fastest on this adapter, and whether prefill (T > 1) is
// faster through matmulBlocked (GPUs) than through the kernels that suit lavapipe. A short
// measurement over a few candidates on representative shapes, once per weight type; the choice
// is kept per GpuContext (matmul.ts) and in a small JSON file per adapter under
// $XDG_CACHE_HOME/gemma (or ~/.cache/gemma), so a later run of the same machine starts tuned.
// Recording a batch is synchronous and measuring is not, so tuning is an explicit await
// (`tuneMatmul`, once after loading weights); until then matmul uses `defaultMatmulVariant`.

import { describe, type GpuContext } from "./gpu.ts";
import { createMatrix, destroyMatrix, type WeightType } from "./matrix.ts";
import { BLOCK_BYTES, BLOCK_ELEMENTS, isQuantType } from "./quant.ts";
import { canUseBlockedMatmul } from "./matmul_blocked.ts";
import {
  defaultMatmulVariant,
  gemvBroadcastsFor,
  isMatmulVariant,
  matmul,
  type MatmulVariant,
  matmulVariant,
  setMatmulVariant,
  variantName,
} from "./matmul.ts";

/**
 * Bumped whenever matmul.wgsl's variants change meaning, or their measurement improves (3: timed
 * on the GPU's clock; before, a fast GPU's choices were noise): older cache entries are ignored.
 */
export const TUNE_VERSION = 3;

/** Representative GEMV: N rows of w (output columns) of K inputs, Gemma-2B-like. */
const TUNE_ROWS = 8192;
const TUNE_COLS = 2048;
/** Representative prefill: T rows of x against an (N, K) weight (small: lavapipe times it too). */
const PREFILL_SHAPE = { rows: 64, n: 1024, k: 1024 };
/** A candidate must beat the default by this factor to be chosen (timings are noisy). */
const MARGIN = 0.9;

export interface TuneOptions {
  /** Measure even when a cached choice exists (it is then overwritten). */
  force?: boolean;
  /** The cache file; default `matmulTuneCachePath()`. null: no file is read or written. */
  cachePath?: string | null;
  /** Interleaved rounds over the candidates (the minimum per candidate counts; default 3). */
  rounds?: number;
  /** Print the measurements to stderr. */
  verbose?: boolean;
}

/** Lanes per workgroup tried: lavapipe's SIMD width, then common GPU subgroup multiples. */
const LANES = [8, 32, 64, 128];
/** Rows per workgroup of the gemv loop tried. */
const GEMV_ROWS = [8, 16, 32];

/**
 * Every T = 1 variant `tuneMatmul` may try for weights of `dtype` on `gpu` (those whose
 * workgroup fits the device's limits), the default first: the gemm loop and the gemv loop with
 * 8, 16 or 32 rows, each with 8, 32, 64 or 128 lanes; for quantized weights on a device with
 * subgroups, also the gemv loop with x broadcast, 8 or 16 rows.
 */
export function matmulCandidates(gpu: GpuContext, dtype: WeightType): MatmulVariant[] {
  const all: MatmulVariant[] = [defaultMatmulVariant(dtype)];
  for (const lanes of lanesThatFit(gpu)) {
    all.push({ gemv: false, rows: 8, lanes });
    for (const rows of GEMV_ROWS) all.push({ gemv: true, rows, lanes });
    if (gemvBroadcastsFor(gpu, dtype)) {
      for (const rows of [8, 16]) all.push({ gemv: true, rows, lanes, broadcast: true });
    }
  }
  const seen = new Set<string>();
  return all.filter((v) => {
    const key = variantName(v);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function lanesThatFit(gpu: GpuContext): number[] {
  const limits = gpu.device.limits;
  return LANES.filter((lanes) =>
    lanes <= limits.maxComputeInvocationsPerWorkgroup &&
    lanes <= limits.maxComputeWorkgroupSizeX &&
    // matmul.wgsl's `partial`: WG × MAX_TT × R f32.
    lanes * 8 * 8 * 4 <= limits.maxComputeWorkgroupStorageSize
  );
}

/**
 * Milliseconds per matmul (the minimum over interleaved rounds) of each variant on an (n, k)
 * weight of type `dtype` (zeros: the time does not depend on the values), for `rows` rows of x
 * (default 1: a GEMV). Timed by the GPU's own timestamps where the device has them: waiting for
 * a batch on Deno ends at a device poll (~11 ms granularity), longer than a whole batch of GEMVs
 * takes on a real GPU, so wall-clock times there would compare polls, not variants.
 */
export async function measureMatmul(
  gpu: GpuContext,
  dtype: WeightType,
  variants: MatmulVariant[],
  shape: { n: number; k: number; rows?: number } = { n: TUNE_ROWS, k: TUNE_COLS },
  rounds = 3,
): Promise<number[]> {
  const { n, k, rows = 1 } = shape;
  const w = createMatrix(gpu, n, k, dtype);
  const x = gpu.createBuffer(rows * k * 4);
  const y = gpu.createBuffer(rows * n * 4);
  try {
    const timestamps = gpu.device.features.has("timestamp-query");
    const run = async (variant: MatmulVariant, repeat: number) => {
      const batch = gpu.batch({ profile: timestamps });
      batch.mark("matmul");
      for (let i = 0; i < repeat; i++) matmul(batch, { x, w, y, rows, variant });
      if (timestamps) return (await batch.profile()).get("matmul")!.ms / repeat;
      const start = performance.now();
      batch.submit();
      await gpu.device.queue.onSubmittedWorkDone();
      return (performance.now() - start) / repeat;
    };
    // Warm-up: the first run of each variant compiles its pipeline (lavapipe compiles at the
    // first dispatch, for up to seconds), so the repeats are sized by a second run: a batch
    // should take ≥ 50 ms, or (timed from the CPU) the submit latency swamps the GEMVs.
    for (const v of variants) await run(v, 1);
    let single = Infinity;
    for (const v of variants) single = Math.min(single, await run(v, 1));
    const repeat = Math.max(1, Math.min(256, Math.ceil(50 / Math.max(single, 0.01))));
    const best = variants.map(() => Infinity);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < variants.length; i++) {
        best[i] = Math.min(best[i], await run(variants[i], repeat));
      }
    }
    return best;
  } finally {
    destroyMatrix(w);
    x.destroy();
    y.destroy();
  }
}

/** The cache file: $XDG_CACHE_HOME/gemma/matmul_tune.json, or ~/.cache/gemma/…; null if unknown. */
export function matmulTuneCachePath(): string | null {
  try {
    const xdg = Deno.env.get("XDG_CACHE_HOME");
    const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
    const root = xdg || (home ? `${home}/.cache` : null);
    return root ? `${root}/gemma/matmul_tune.json` : null;
  } catch {
    return null; // no --allow-env
  }
}

/** The cache key of an adapter: its identity (limits and features too) and the tuning version. */
export function adapterKey(gpu: GpuContext): string {
  const info = gpu.adapterInfo;
  return [
    `v${TUNE_VERSION}`,
    info.vendor,
    info.architecture,
    info.device,
    info.description || describe(info),
    gpu.adapterFingerprint,
  ].join("|");
}

type CacheFile = Record<string, Record<string, MatmulVariant>>;

/** The cache file's contents; {} when it is missing, unreadable or malformed. */
export function readTuneCache(path: string): CacheFile {
  try {
    const data = JSON.parse(Deno.readTextFileSync(path));
    return typeof data === "object" && data !== null && !Array.isArray(data) ? data : {};
  } catch {
    return {};
  }
}

/** Merges `choices` into the adapter's entry, written atomically (temp file + rename); never throws. */
function writeTuneCache(path: string, key: string, choices: Map<WeightType, MatmulVariant>): void {
  try {
    const data = readTuneCache(path);
    const entry = typeof data[key] === "object" && data[key] !== null ? data[key] : {};
    for (const [dtype, v] of choices) entry[dtype] = v;
    data[key] = entry;
    const dir = path.slice(0, path.lastIndexOf("/"));
    if (dir) Deno.mkdirSync(dir, { recursive: true });
    const temp = `${path}.${Deno.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      Deno.writeTextFileSync(temp, JSON.stringify(data, null, 1) + "\n");
      Deno.renameSync(temp, path);
    } catch {
      try {
        Deno.removeSync(temp);
      } catch { /* nothing to clean up */ }
    }
  } catch { /* read-only or no permission: the choice stays in memory */ }
}

function tuningDisabled(): boolean {
  try {
    return Deno.env.get("GEMMA_NO_TUNE") === "1";
  } catch {
    return false;
  }
}

/**
 * Chooses the T = 1 matmul variant of each weight type in `types` for `gpu` (see the header),
 * and returns the choices. Cached choices (in memory, then on disk) are reused unless `force`;
 * with GEMMA_NO_TUNE=1 the defaults are kept, and software adapters keep them unless `force`
 * (lavapipe: ~2 s of compiles per type).
 */
export async function tuneMatmul(
  gpu: GpuContext,
  types: Iterable<WeightType>,
  options: TuneOptions = {},
): Promise<Map<WeightType, MatmulVariant>> {
  const result = new Map<WeightType, MatmulVariant>();
  const wanted = [...new Set(types)];
  if (tuningDisabled()) {
    for (const dtype of wanted) result.set(dtype, matmulVariant(gpu, dtype));
    return result;
  }
  const path = options.cachePath === undefined ? matmulTuneCachePath() : options.cachePath;
  const key = adapterKey(gpu);
  const cached = path && !options.force ? readTuneCache(path)[key] ?? {} : {};
  const measured = new Map<WeightType, MatmulVariant>();
  for (const dtype of wanted) {
    if (!options.force && tuned.get(gpu)?.has(dtype)) {
      result.set(dtype, matmulVariant(gpu, dtype));
      continue;
    }
    const fromFile = typeof cached === "object" ? cached[dtype] : undefined;
    let choice: MatmulVariant;
    if (isMatmulVariant(fromFile)) {
      choice = fromFile;
    } else if (!options.force && isSoftwareAdapter(gpu.adapterInfo)) {
      // The defaults were measured on lavapipe, and there a search costs seconds of shader
      // compiles and ~0.5 GiB of peak memory on first load for no gain.
      choice = defaultMatmulVariant(dtype);
    } else {
      choice = await search(gpu, dtype, options);
      measured.set(dtype, choice);
    }
    setMatmulVariant(gpu, dtype, choice);
    let set = tuned.get(gpu);
    if (!set) tuned.set(gpu, set = new Set());
    set.add(dtype);
    result.set(dtype, choice);
  }
  if (path && measured.size > 0) writeTuneCache(path, key, measured);
  return result;
}

/**
 * The fastest variant for `dtype`, in two stages to keep compiles few (a quantized gemv pipeline
 * with 32 rows takes ~1 s to compile on lavapipe, a gemm one ~0.1 s): the cheap gemm loop finds
 * the best lanes per workgroup, then the gemv loop's row counts are tried with those lanes (and,
 * for quantized weights on a device with subgroups, its x-broadcast form with 8 and 16 rows).
 * The default wins unless another variant is faster by more than the noise margin.
 */
async function search(
  gpu: GpuContext,
  dtype: WeightType,
  options: TuneOptions,
): Promise<MatmulVariant> {
  const fallback = defaultMatmulVariant(dtype);
  const times = new Map<string, { variant: MatmulVariant; ms: number }>();
  const measure = async (variants: MatmulVariant[]) => {
    const fresh = variants.filter((v) => !times.has(variantName(v)));
    const ms = await measureMatmul(gpu, dtype, fresh, undefined, options.rounds);
    fresh.forEach((variant, i) => times.set(variantName(variant), { variant, ms: ms[i] }));
  };
  // The two smallest lane counts first; larger ones only if the larger of those two won (on
  // lavapipe, 8 lanes beat 32 by ~2×, and 64 or 128 would only cost compiles).
  const gemm = lanesThatFit(gpu).map((lanes) => ({ gemv: false, rows: 8, lanes }));
  await measure([fallback, ...gemm.slice(0, 2)]);
  const msOf = (v: MatmulVariant) => times.get(variantName(v))!.ms;
  if (gemm.length > 2 && msOf(gemm[1]) < msOf(gemm[0])) await measure(gemm.slice(2));
  let lanes = fallback.lanes;
  let best = Infinity;
  for (const v of gemm) {
    if (times.has(variantName(v)) && msOf(v) < best) [best, lanes] = [msOf(v), v.lanes];
  }
  await measure(GEMV_ROWS.map((rows) => ({ gemv: true, rows, lanes })));
  if (gemvBroadcastsFor(gpu, dtype)) {
    await measure([8, 16].map((rows) => ({ gemv: true, rows, lanes, broadcast: true })));
  }
  let choice = times.get(variantName(fallback))!;
  const threshold = choice.ms * MARGIN;
  for (const entry of times.values()) {
    if (entry.ms < Math.min(threshold, choice.ms)) choice = entry;
  }
  if (options.verbose) {
    const gb = (ms: number) => TUNE_ROWS * TUNE_COLS * bytesPerWeight(dtype) / ms / 1e6;
    const report = [...times.values()].map(({ variant, ms }) =>
      `${variantName(variant)} ${gb(ms).toFixed(2)} GB/s${variant === choice.variant ? " *" : ""}`
    );
    console.error(`tune ${dtype} (${TUNE_ROWS}×${TUNE_COLS}): ${report.join(", ")}`);
  }
  return { ...choice.variant, blocked: await prefersBlocked(gpu, dtype, choice.variant, options) };
}

/**
 * Whether prefill runs faster through matmulBlocked than through the kernel that suits lavapipe
 * (by more than the noise margin), on PREFILL_SHAPE.
 */
async function prefersBlocked(
  gpu: GpuContext,
  dtype: WeightType,
  variant: MatmulVariant,
  options: TuneOptions,
): Promise<boolean> {
  if (!canUseBlockedMatmul(gpu)) return false;
  const [plain, blocked] = await measureMatmul(
    gpu,
    dtype,
    [{ ...variant, blocked: false }, { ...variant, blocked: true }],
    PREFILL_SHAPE,
    options.rounds,
  );
  if (options.verbose) {
    const { rows, n, k } = PREFILL_SHAPE;
    const gflops = (ms: number) => (2 * rows * n * k / ms / 1e6).toFixed(1);
    console.error(
      `tune ${dtype} prefill (${rows}×${n}×${k}): ${gflops(plain)} GFLOP/s, blocked ${
        gflops(blocked)
      } GFLOP/s`,
    );
  }
  return blocked < plain * MARGIN;
}

/** True for CPU implementations of WebGPU/Vulkan (lavapipe, llvmpipe, SwiftShader, WARP). */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  const text = [info.vendor, info.architecture, info.device, info.description].join(" ");
  return /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render/i.test(text);
}

/** Weight types already tuned (or loaded from the cache) per GpuContext. */
const tuned = new WeakMap<GpuContext, Set<WeightType>>();

/** Bytes per weight (scales included, as in the file), for the GB/s figures. */
export function bytesPerWeight(dtype: WeightType): number {
  if (isQuantType(dtype)) return BLOCK_BYTES[dtype] / BLOCK_ELEMENTS[dtype];
  return dtype === "f32" ? 4 : 2;
}

// Picking the next token on the GPU (greedy argmax, or a temperature / min-p sample by the
// Gumbel-max trick, see pick_token.wgsl): the kernel and its CPU reference.

import { type Binding, GpuBatch, type GpuContext, GpuError, Uniforms } from "./gpu.ts";
import pickSource from "./pick_token.wgsl" with { type: "text" };
import radixSource from "./radix_select.wgsl" with { type: "text" };
import hashSource from "./hash.wgsl" with { type: "text" };
import { lowbias32 } from "./hash.ts";

const source = hashSource + radixSource + pickSource;

/** A draw from softmax(logits / temperature), min-p filtered. */
export interface SampleDraw {
  /** > 0. */
  temperature: number;
  /** Keep tokens with probability ≥ minP × the top one's; 0 = off. */
  minP: number;
  /** Keep the tokens ≥ the k-th largest logit (ties kept); 0 = off. */
  topK?: number;
  /**
   * Then keep the fewest most likely whose probabilities reach topP; 1 = off. Without top-k,
   * among the tokens within TOP_P_CUTOFF·T of the top logit (the others weigh < e^-30 each).
   */
  topP?: number;
  /** u32: the sequence's seed. */
  seed: number;
  /** u32: the draw's number in the sequence (each token gets fresh noise). */
  draw: number;
}

export interface PickTokenArgs {
  /** (n) f32 logits; with a repetition penalty, penalized in place. */
  x: Binding;
  /** N. */
  n: number;
  /** u32[1]: receives the picked token. */
  out: Binding;
  /** Sample instead of taking the argmax. */
  sample?: SampleDraw;
  /** Repetition penalty over the tokens marked in `seen` (default 1: none). */
  repetitionPenalty?: number;
  /**
   * (⌈n / 32⌉) u32 bits, token i in bit i % 32 of word i / 32: the tokens the penalty applies
   * to; the picked token is marked too. Needed with a penalty.
   */
  seen?: Binding;
}

/** Top-p without top-k leaves out logits below max − TOP_P_CUTOFF·T (pick_token.wgsl's CUTOFF). */
export const TOP_P_CUTOFF = 30;

/** The lowest f32: the min-p bound when min-p is off. */
const LOWEST_F32 = -3.4028234663852886e38;

export function pickToken(batch: GpuBatch, args: PickTokenArgs): void {
  const s = args.sample;
  const penalty = args.repetitionPenalty ?? 1;
  if (penalty !== 1 && !args.seen) throw new GpuError("pickToken: a penalty needs `seen`");
  const uniforms = new Uniforms()
    .u32(args.n)
    .u32(s ? 1 : 0)
    .u32(s?.seed ?? 0)
    .u32(s?.draw ?? 0)
    .f32(s ? 1 / s.temperature : 0)
    .f32(s && s.minP > 0 ? Math.log(s.minP) : LOWEST_F32)
    .u32(s?.topK ?? 0)
    .f32(s?.topP ?? 1)
    .f32(penalty);
  const seen = args.seen ?? noSeenTokens(batch.gpu);
  batch.dispatch(batch.gpu.pipeline(source), uniforms, [args.x, args.out, seen], [1]);
}

/** Bits for a pick without a penalty (the kernel binds them but reads none). */
const emptySeen = new WeakMap<GpuContext, GPUBuffer>();
function noSeenTokens(gpu: GpuContext): GPUBuffer {
  let buffer = emptySeen.get(gpu);
  if (!buffer) emptySeen.set(gpu, buffer = gpu.createBuffer(4, "no seen tokens"));
  return buffer;
}

/** The bit set pick_token's `seen` holds for `tokens` (a vocabulary of n). */
export function seenBits(tokens: Iterable<number>, n: number): Uint32Array {
  const bits = new Uint32Array(Math.ceil(n / 32));
  for (const id of tokens) bits[id >>> 5] |= 1 << (id & 31);
  return bits;
}

/** The logits after a repetition penalty over `seen` (f32, as the kernel computes them). */
export function penalizedReference(
  x: Float32Array,
  penalty: number,
  seen: Iterable<number>,
): Float32Array {
  const out = x.slice();
  for (const id of new Set(seen)) {
    const v = out[id];
    out[id] = v > 0 ? v / penalty : v * penalty;
  }
  return out;
}

/** The index of the largest value, the lowest on ties; NaNs are skipped (0 if all are NaN). */
export function argmaxReference(x: Float32Array): number {
  let best = -1;
  for (let i = 0; i < x.length; i++) {
    if (best < 0 ? !Number.isNaN(x[i]) : x[i] > x[best]) best = i;
  }
  return Math.max(best, 0);
}

/**
 * The sampling keys of pick_token.wgsl, in f64: (x − max) / T + Gumbel noise for the tokens that
 * pass top-k, top-p and min-p, NaN for the others.
 */
export function sampleKeys(x: Float32Array, draw: SampleDraw): Float64Array {
  const max = x[argmaxReference(x)];
  const invTemperature = Math.fround(1 / draw.temperature);
  const logMinP = draw.minP > 0 ? Math.fround(Math.log(draw.minP)) : LOWEST_F32;
  const floor = keptFloor(x, draw, max, invTemperature);
  return Float64Array.from(x, (v, i) => {
    const scaled = (v - max) * invTemperature;
    return v >= floor && scaled >= logMinP ? scaled + gumbelNoise(draw.seed, draw.draw, i) : NaN;
  });
}

/**
 * The smallest logit that top-k and then top-p keep (-Infinity: all). Top-p alone weighs the
 * logits ≥ max − TOP_P_CUTOFF·T (f32, as the kernel computes it), and needs a finite max.
 */
function keptFloor(x: Float32Array, draw: SampleDraw, max: number, invTemperature: number) {
  const topK = draw.topK ?? 0;
  const topP = draw.topP ?? 1;
  if (topK === 0 && (topP >= 1 || !Number.isFinite(max))) return -Infinity;
  // A typed-array sort is numeric (ascending) and far quicker than a comparator on 256000 values.
  const sorted = x.filter((v) => !Number.isNaN(v)).sort().reverse();
  const floor = topK === 0
    ? Math.fround(max - Math.fround(TOP_P_CUTOFF / invTemperature))
    : sorted.length < topK
    ? -Infinity
    : sorted[topK - 1];
  if (topP >= 1) return floor;
  const kept = sorted.filter((v) => v >= floor);
  const weights = kept.map((v) => Math.exp((v - max) * invTemperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  for (let j = 0; j < kept.length; j++) {
    sum += weights[j];
    if (sum >= topP * total) return kept[j];
  }
  return floor;
}

/** What pickToken writes: the argmax, or the best sample key (the argmax if none passes). */
export function pickTokenReference(x: Float32Array, sample?: SampleDraw): number {
  const top = argmaxReference(x);
  if (!sample) return top;
  const keys = sampleKeys(x, sample);
  let best = -1;
  for (let i = 0; i < keys.length; i++) {
    if (!Number.isNaN(keys[i]) && (best < 0 || keys[i] > keys[best])) best = i;
  }
  return best < 0 ? top : best;
}

/** G = −log(−log U), U = (k + 0.5) / 2^23 from the hash of (seed, draw, i), as in the kernel. */
export function gumbelNoise(seed: number, draw: number, i: number): number {
  const k = lowbias32(lowbias32(lowbias32(seed) ^ draw) ^ i) >>> 9;
  return -Math.log(-Math.log1p(-(2 ** 23 - k - 0.5) / 2 ** 23));
}

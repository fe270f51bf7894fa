// Choosing the next token from logits: repetition penalty, temperature, top-k, top-p (nucleus),
// min-p, then a draw from a seeded generator (same seed, same tokens). Greedy when temperature
// is 0. The order follows HF transformers' logits processors. Decoding picks its tokens on the
// GPU instead (`gpuPick`, pick_token.wgsl); `sample` is the CPU twin, for tests and for callers
// that hold logits.

import { penalizedReference, TOP_P_CUTOFF } from "../kernels/pick_token.ts";
import type { TokenPick } from "./gemma.ts";

export interface SamplingOptions {
  /** 0 = greedy (argmax). */
  temperature: number;
  /** Keep only the k most likely tokens; 0 = off. */
  topK: number;
  /** Keep the smallest set of tokens whose probability reaches p; 1 = off. */
  topP: number;
  /** Drop tokens less likely than minP × the most likely one's probability; 0 = off. */
  minP: number;
  /** > 1 makes tokens already in the sequence less likely (CTRL-style); 1 = off. */
  repetitionPenalty: number;
  /** Seed of the generator; a random one when absent. */
  seed?: number;
}

export const DEFAULT_SAMPLING: SamplingOptions = {
  temperature: 0,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
};

export class SamplingError extends Error {
  override name = "SamplingError";
}

export function validateSampling(o: SamplingOptions): void {
  const check = (ok: boolean, what: string) => {
    if (!ok) throw new SamplingError(what);
  };
  check(Number.isFinite(o.temperature) && o.temperature >= 0, "--temperature must be ≥ 0");
  check(Number.isInteger(o.topK) && o.topK >= 0, "--top-k must be an integer ≥ 0");
  check(o.topP > 0 && o.topP <= 1, "--top-p must be in (0, 1]");
  check(o.minP >= 0 && o.minP < 1, "--min-p must be in [0, 1)");
  check(
    Number.isFinite(o.repetitionPenalty) && o.repetitionPenalty > 0,
    "--repeat-penalty must be > 0",
  );
  if (o.seed !== undefined) check(Number.isInteger(o.seed), "--seed must be an integer");
}

export class Sampler {
  readonly options: SamplingOptions;
  readonly #random: () => number;
  /** The seed (u32) and the draws taken so far, for GPU draws (`gpuPick`). */
  readonly #seed: number;
  #draws = 0;

  constructor(options: SamplingOptions) {
    validateSampling(options);
    this.options = options;
    this.#seed = (options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]) >>> 0;
    this.#random = splitmix32(this.#seed);
  }

  /**
   * How decoding picks each token on the GPU, without reading the logits back (GemmaSession.decode
   * calls it once per token): pick_token.wgsl takes the argmax, the repetition penalty, and draws
   * with temperature, min-p, top-k and top-p by another algorithm than `sample`: from the same
   * distribution (but for ties at a top-k or top-p bound, which it keeps), and as reproducible
   * from the seed.
   */
  get gpuPick(): () => TokenPick {
    const o = this.options;
    const repetitionPenalty = o.repetitionPenalty;
    if (o.temperature === 0) return () => ({ repetitionPenalty });
    return () => ({
      repetitionPenalty,
      sample: {
        temperature: o.temperature,
        minP: o.minP,
        topK: o.topK,
        topP: o.topP,
        seed: this.#seed,
        draw: this.#draws++,
      },
    });
  }

  /** Picks a token from `logits` (not modified); `history` feeds the repetition penalty. */
  sample(logits: Float32Array, history: Iterable<number> = []): number {
    const o = this.options;
    const scores = o.repetitionPenalty === 1
      ? logits
      : penalizedReference(logits, o.repetitionPenalty, history);
    if (o.temperature === 0) return argmaxOf(scores);

    let max = -Infinity;
    for (let i = 0; i < scores.length; i++) if (scores[i] > max) max = scores[i];
    // Below max − 30·T a token's probability is < e^-30 ≈ 1e-13 of the top one's: left out of the
    // sort (pick_token.wgsl's top-p leaves out the same tokens).
    const floor = max - TOP_P_CUTOFF * o.temperature;
    let candidates = sortedCandidates(scores, floor);
    if (o.topK > 0) candidates = candidates.slice(0, o.topK);

    const probs = candidates.map((i) => Math.exp((scores[i] - max) / o.temperature));
    let total = probs.reduce((a, b) => a + b, 0);
    let keep = candidates.length;
    if (o.topP < 1) {
      let cumulative = 0;
      for (let j = 0; j < probs.length; j++) {
        cumulative += probs[j] / total;
        if (cumulative >= o.topP) {
          keep = j + 1;
          break;
        }
      }
    }
    if (o.minP > 0) {
      const threshold = o.minP * probs[0];
      let j = 1;
      while (j < keep && probs[j] >= threshold) j++;
      keep = j;
    }
    total = 0;
    for (let j = 0; j < keep; j++) total += probs[j];
    let r = this.#random() * total;
    for (let j = 0; j < keep; j++) {
      r -= probs[j];
      if (r < 0) return candidates[j];
    }
    return candidates[keep - 1];
  }
}

/**
 * The indices of the scores ≥ floor, largest score first, lower index first on ties. Sorted as
 * one Float64Array of exact integers (a typed-array sort is ~10× faster than a comparator over
 * 256000 candidates): the score's f32 bits mapped to an order-preserving u32, inverted, times
 * 2^20, plus the index (< 2^20): 52 bits.
 */
function sortedCandidates(scores: Float32Array, floor: number): number[] {
  if (scores.length > INDEX_SPAN) {
    const all = [...scores.keys()].filter((i) => scores[i] >= floor);
    return all.sort((a, b) => scores[b] - scores[a] || a - b);
  }
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, scores.length);
  const keys: number[] = [];
  for (let i = 0; i < scores.length; i++) {
    if (!(scores[i] >= floor)) continue;
    const b = bits[i];
    const order = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    keys.push((0xffffffff - order) * INDEX_SPAN + i);
  }
  const sorted = Float64Array.from(keys).sort();
  return Array.from(sorted, (key) => key % INDEX_SPAN);
}

/** Indices below this fit beside a 32-bit score in an exact f64 key. */
const INDEX_SPAN = 2 ** 20;

export function argmaxOf(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** A small seeded generator of uniform numbers in [0, 1). */
function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return ((z ^ (z >>> 16)) >>> 0) / 4294967296;
  };
}

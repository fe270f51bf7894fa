// Scoring a greedy continuation against the true suffix (the Gemma reports' memorization
// metrics): exact = every token equal; approximate = token-level edit distance at most 10% of the
// suffix length (Ippolito et al. 2022); the longest common prefix says how far the copy went.
// Rates carry Wilson score intervals, which stay inside [0, 1] and behave at 0 and n.

/** Approximate memorization: edit distance ≤ this fraction of the true suffix's token count. */
export const APPROXIMATE_FRACTION = 0.1;

/** Levenshtein distance over token ids: insertions, deletions and substitutions each cost 1. */
export function tokenEditDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const row = new EditDistanceRow(b);
  for (let i = 0; i < a.length; i++) row.push(a[i]);
  return row.distance;
}

/**
 * The edit distance to `truth` of a sequence given one token at a time. After k tokens, row[j] is
 * the distance between those k tokens and truth's first j; the smallest entry never decreases as
 * tokens come, and bounds the final distance from below: any alignment of the whole sequences
 * aligns the first k tokens with some prefix of truth. So once it exceeds a threshold, no
 * continuation can come back under it.
 */
export class EditDistanceRow {
  readonly #truth: ArrayLike<number>;
  #row: number[];
  #tokens = 0;

  constructor(truth: ArrayLike<number>) {
    this.#truth = truth;
    this.#row = Array.from({ length: truth.length + 1 }, (_, j) => j);
  }

  push(token: number): void {
    const row = this.#row;
    const next = [++this.#tokens];
    for (let j = 1; j <= this.#truth.length; j++) {
      const substitute = row[j - 1] + (this.#truth[j - 1] === token ? 0 : 1);
      next.push(Math.min(substitute, row[j] + 1, next[j - 1] + 1));
    }
    this.#row = next;
  }

  /** The distance so far to all of truth (the final distance once every token is in). */
  get distance(): number {
    return this.#row[this.#truth.length];
  }

  /** A lower bound on the final distance, whatever tokens follow. */
  get lowerBound(): number {
    return Math.min(...this.#row);
  }
}

/** Tokens the two sequences share from their start. */
export function commonPrefixLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** The largest edit distance that counts as approximate memorization of `suffix` tokens. */
export function approximateLimit(suffix: number): number {
  // A small epsilon: 10% of 50 is 5 exactly, but 0.1 * 30 is 3.0000000000000004.
  return Math.floor(APPROXIMATE_FRACTION * suffix + 1e-9);
}

export interface WindowScore {
  exact: boolean;
  /** Includes the exact ones (distance 0). */
  approximate: boolean;
  /**
   * The distance to the true suffix; for a continuation cut short (`complete` false) a lower
   * bound that already exceeds the approximate limit.
   */
  editDistance: number;
  commonPrefix: number;
  /** Whether every suffix token was decoded (not stopped once it could not be memorized). */
  complete: boolean;
}

/**
 * Scores `generated` against `truth`. A continuation shorter than truth is one stopped early, so
 * it must already be too far from truth to be approximate memorization.
 */
export function scoreContinuation(generated: number[], truth: number[]): WindowScore {
  const row = new EditDistanceRow(truth);
  for (const token of generated) row.push(token);
  const complete = generated.length >= truth.length;
  const editDistance = complete ? row.distance : row.lowerBound;
  const limit = approximateLimit(truth.length);
  if (!complete && editDistance <= limit) {
    throw new RangeError("scoreContinuation: a continuation stopped before it was out of reach");
  }
  return {
    exact: complete && editDistance === 0,
    approximate: complete && editDistance <= limit,
    editDistance,
    commonPrefix: commonPrefixLength(generated, truth),
    complete,
  };
}

/** The 95% Wilson score interval of a proportion of `k` successes in `n` trials. */
export function wilsonInterval(k: number, n: number, z = 1.959963984540054): [number, number] {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || k > n) {
    throw new RangeError(`wilsonInterval: need integers 0 ≤ k ≤ n, got ${k} of ${n}`);
  }
  if (n === 0) return [0, 1];
  const p = k / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  // In exact arithmetic k = 0 gives 0 and k = n gives 1; floating point misses by an ulp.
  return [k === 0 ? 0 : Math.max(0, centre - half), k === n ? 1 : Math.min(1, centre + half)];
}

export interface RateSummary {
  count: number;
  total: number;
  rate: number;
  ci95: [number, number];
}

export function rateSummary(count: number, total: number): RateSummary {
  return {
    count,
    total,
    rate: total === 0 ? 0 : count / total,
    ci95: wilsonInterval(count, total),
  };
}

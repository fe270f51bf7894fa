// Scoring a greedy continuation against the true suffix (the Gemma reports' memorization
// metrics): exact = every token equal; approximate = token-level edit distance at most 10% of the
// suffix length (Ippolito et al. 2022); the longest common prefix says how far the copy went.
// Rates carry Wilson score intervals, which stay inside [0, 1] and behave at 0 and n.

/** Approximate memorization: edit distance ≤ this fraction of the true suffix's token count. */
export const APPROXIMATE_FRACTION = 0.1;

/** Levenshtein distance over token ids: insertions, deletions and substitutions each cost 1. */
export function tokenEditDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  // One row of the DP table at a time: row[j] = distance(a[0..i), b[0..j)).
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitute = row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      next.push(Math.min(substitute, row[j] + 1, next[j - 1] + 1));
    }
    row = next;
  }
  return row[b.length];
}

/** Tokens the two sequences share from their start. */
export function commonPrefixLength(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export interface WindowScore {
  exact: boolean;
  /** Includes the exact ones (distance 0). */
  approximate: boolean;
  editDistance: number;
  commonPrefix: number;
}

/** Scores `generated` against `truth`; the distance is normalised by truth's length. */
export function scoreContinuation(generated: number[], truth: number[]): WindowScore {
  const editDistance = tokenEditDistance(generated, truth);
  return {
    exact: generated.length === truth.length && editDistance === 0,
    // A small epsilon: 10% of 50 is 5 exactly, but 0.1 * 30 is 3.0000000000000004.
    approximate: editDistance <= APPROXIMATE_FRACTION * truth.length + 1e-9,
    editDistance,
    commonPrefix: commonPrefixLength(generated, truth),
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

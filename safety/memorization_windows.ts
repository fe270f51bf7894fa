// Which windows the probe reads: a window is `length` consecutive tokens of one document (prefix
// then suffix), identified by its document and start. Every start at which a window fits counts
// once, so a document of L tokens offers L − length + 1 windows and a shorter one none (it is
// skipped, and counted). N windows are drawn uniformly without replacement from all of them (so
// uniformly over token positions, long documents offering more), from a seeded generator: the
// same documents, lengths and seed always give the same windows.

export interface WindowPlace {
  /** Index of the document in the list given. */
  document: number;
  /** Token offset of the window's first prefix token in the document. */
  start: number;
}

export interface WindowSample {
  windows: WindowPlace[];
  /** Windows there were to draw from. */
  available: number;
  /** Documents shorter than a window. */
  skipped: number;
}

/**
 * Draws `n` windows of `length` tokens from documents of `documentLengths` tokens (all of them
 * when `n` ≥ the windows available), sorted by document and start.
 */
export function sampleWindows(
  documentLengths: number[],
  length: number,
  n: number,
  seed: number,
): WindowSample {
  if (!Number.isInteger(length) || length < 1) {
    throw new RangeError(`window length must be a positive integer, got ${length}`);
  }
  // ends[d]: windows offered by documents 0..d, so window i lies in the first d with i < ends[d].
  const ends: number[] = [];
  let available = 0;
  let skipped = 0;
  for (const tokens of documentLengths) {
    const offered = Math.max(0, tokens - length + 1);
    if (offered === 0) skipped++;
    available += offered;
    ends.push(available);
  }
  const chosen = n >= available
    ? Array.from({ length: available }, (_, i) => i)
    : drawDistinct(available, n, seededRandom(seed)).sort((a, b) => a - b);
  const windows = chosen.map((i) => {
    const document = firstAbove(ends, i);
    return { document, start: i - (document === 0 ? 0 : ends[document - 1]) };
  });
  return { windows, available, skipped };
}

/** `n` distinct integers of [0, m), uniformly (Floyd's algorithm: n draws, whatever m is). */
function drawDistinct(m: number, n: number, random: () => number): number[] {
  const picked = new Set<number>();
  for (let j = m - n; j < m; j++) {
    const t = Math.floor(random() * (j + 1));
    picked.add(picked.has(t) ? j : t);
  }
  return [...picked];
}

/** The first index d with value < sorted[d] (sorted ascending, value < its last element). */
function firstAbove(sorted: number[], value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (value < sorted[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Uniform doubles in [0, 1) with 53 random bits, from SplitMix64 on the seed. */
export function seededRandom(seed: number): () => number {
  let state = BigInt.asUintN(64, BigInt(Math.trunc(seed)));
  return () => {
    state = BigInt.asUintN(64, state + 0x9e3779b97f4a7c15n);
    let z = state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94d049bb133111ebn);
    z = z ^ (z >> 31n);
    return Number(z >> 11n) / 2 ** 53;
  };
}

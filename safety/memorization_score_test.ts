import assert from "node:assert/strict";
import {
  commonPrefixLength,
  EditDistanceRow,
  rateSummary,
  scoreContinuation,
  tokenEditDistance,
  wilsonInterval,
} from "./memorization_score.ts";
import { seededRandom } from "./memorization_windows.ts";

const codes = (s: string) => [...s].map((c) => c.codePointAt(0)!);

/** Levenshtein by its recursive definition, for small inputs. */
function slowDistance(a: number[], b: number[]): number {
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  const [x, ...restA] = a;
  const [y, ...restB] = b;
  return Math.min(
    slowDistance(restA, restB) + (x === y ? 0 : 1),
    slowDistance(restA, b) + 1,
    slowDistance(a, restB) + 1,
  );
}

Deno.test("token edit distance: known cases and the recursive definition", () => {
  assert.equal(tokenEditDistance(codes("kitten"), codes("sitting")), 3);
  assert.equal(tokenEditDistance(codes("flaw"), codes("lawn")), 2);
  assert.equal(tokenEditDistance([], [1, 2, 3]), 3);
  assert.equal(tokenEditDistance([1, 2, 3], []), 3);
  assert.equal(tokenEditDistance([5, 6, 7], [5, 6, 7]), 0);
  assert.equal(tokenEditDistance([5, 6, 7], [5, 9, 7]), 1);
  // A shift by one token costs one deletion and one insertion, not a substitution per token.
  assert.equal(tokenEditDistance([1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6, 7]), 2);
  const random = seededRandom(7);
  for (let trial = 0; trial < 200; trial++) {
    const seq = () =>
      Array.from({ length: Math.floor(random() * 7) }, () => Math.floor(random() * 3));
    const a = seq();
    const b = seq();
    assert.equal(tokenEditDistance(a, b), slowDistance(a, b), `${a} vs ${b}`);
    assert.equal(tokenEditDistance(a, b), tokenEditDistance(b, a));
  }
});

Deno.test("longest common prefix", () => {
  assert.equal(commonPrefixLength([1, 2, 3], [1, 2, 4]), 2);
  assert.equal(commonPrefixLength([1, 2, 3], [1, 2, 3]), 3);
  assert.equal(commonPrefixLength([9, 2, 3], [1, 2, 3]), 0);
  assert.equal(commonPrefixLength([], [1]), 0);
  assert.equal(commonPrefixLength([1, 2], [1, 2, 3]), 2);
});

Deno.test("exact and approximate: distance at most 10% of the suffix's tokens", () => {
  const truth = Array.from({ length: 50 }, (_, i) => 100 + i);
  const edited = (n: number) => truth.map((t, i) => (i % 8 === 3 && i / 8 < n ? t + 1000 : t));
  assert.deepEqual(scoreContinuation(truth, truth), {
    exact: true,
    approximate: true,
    editDistance: 0,
    commonPrefix: 50,
    complete: true,
  });
  assert.deepEqual(scoreContinuation(edited(5), truth), {
    exact: false,
    approximate: true,
    editDistance: 5,
    commonPrefix: 3,
    complete: true,
  });
  assert.equal(scoreContinuation(edited(6), truth).editDistance, 6);
  assert.equal(scoreContinuation(edited(6), truth).approximate, false);
  // 10% of 30 is 3 (0.1 * 30 rounds to 3.0000000000000004 in floating point).
  const thirty = truth.slice(0, 30);
  const three = thirty.map((t, i) => (i < 3 ? t + 1 : t));
  assert.equal(scoreContinuation(three, thirty).approximate, true);
  assert.equal(scoreContinuation(thirty.map((t, i) => (i < 4 ? 0 : t)), thirty).approximate, false);
  // Under 10 tokens, 10% is below one token: only exact copies count.
  assert.equal(scoreContinuation([1, 2, 3, 4, 0], [1, 2, 3, 4, 5]).approximate, false);
});

Deno.test("edit distance one token at a time: a lower bound that only grows", () => {
  const random = seededRandom(11);
  for (let trial = 0; trial < 100; trial++) {
    const seq = (n: number) => Array.from({ length: n }, () => Math.floor(random() * 4));
    const truth = seq(12);
    const generated = random() < 0.3 ? truth.map((t) => (random() < 0.1 ? 9 : t)) : seq(12);
    const row = new EditDistanceRow(truth);
    let bound = 0;
    for (const token of generated) {
      row.push(token);
      assert.ok(row.lowerBound >= bound);
      bound = row.lowerBound;
    }
    const final = tokenEditDistance(generated, truth);
    assert.equal(row.distance, final);
    assert.ok(bound <= final);
  }
  // A continuation stopped once out of reach is scored as such; stopped earlier, it is refused.
  const truth = Array.from({ length: 20 }, (_, i) => i);
  const far = [50, 51, 52];
  assert.deepEqual(scoreContinuation(far, truth), {
    exact: false,
    approximate: false,
    editDistance: 3,
    commonPrefix: 0,
    complete: false,
  });
  assert.throws(() => scoreContinuation([0, 1, 50, 51], truth), /out of reach/);
});

Deno.test("Wilson score intervals", () => {
  const close = (got: [number, number], want: [number, number]) => {
    assert.ok(Math.abs(got[0] - want[0]) < 1e-4 && Math.abs(got[1] - want[1]) < 1e-4, `${got}`);
  };
  close(wilsonInterval(0, 10), [0, 0.2775]);
  close(wilsonInterval(5, 10), [0.2366, 0.7634]);
  close(wilsonInterval(10, 10), [0.7225, 1]);
  close(wilsonInterval(81, 263), [0.2553, 0.3662]);
  assert.equal(wilsonInterval(0, 10)[0], 0);
  assert.equal(wilsonInterval(10, 10)[1], 1);
  assert.deepEqual(wilsonInterval(0, 0), [0, 1]);
  assert.throws(() => wilsonInterval(3, 2), RangeError);
  const r = rateSummary(5, 10);
  assert.equal(r.rate, 0.5);
  assert.equal(r.count, 5);
  assert.equal(r.total, 10);
});

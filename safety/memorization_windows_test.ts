import assert from "node:assert/strict";
import { sampleWindows } from "./memorization_windows.ts";

Deno.test("windows: every start at which one fits, short documents skipped and counted", () => {
  // Documents of 10, 3 and 5 tokens; windows of 4 tokens: 7 + 0 + 2.
  const all = sampleWindows([10, 3, 5], 4, 100, 1);
  assert.equal(all.available, 9);
  assert.equal(all.skipped, 1);
  assert.deepEqual(all.windows, [
    ...Array.from({ length: 7 }, (_, start) => ({ document: 0, start })),
    { document: 2, start: 0 },
    { document: 2, start: 1 },
  ]);
  const none = sampleWindows([3, 2], 4, 10, 1);
  assert.equal(none.available, 0);
  assert.equal(none.skipped, 2);
  assert.deepEqual(none.windows, []);
});

Deno.test("windows: the same seed gives the same sample, distinct and sorted", () => {
  const lengths = [500, 20, 3000, 7, 120];
  const a = sampleWindows(lengths, 100, 50, 42);
  assert.deepEqual(sampleWindows(lengths, 100, 50, 42), a);
  assert.notDeepEqual(sampleWindows(lengths, 100, 50, 43).windows, a.windows);
  assert.equal(a.windows.length, 50);
  const keys = a.windows.map((w) => w.document * 1e6 + w.start);
  assert.deepEqual(keys, [...keys].sort((x, y) => x - y));
  assert.equal(new Set(keys).size, 50);
  for (const w of a.windows) assert.ok(w.start + 100 <= lengths[w.document]);
  // Huge corpora cost only the windows drawn.
  const huge = sampleWindows([1e12], 100, 3, 1);
  assert.equal(huge.windows.length, 3);
  assert.ok(huge.windows.every((w) => w.start >= 0 && w.start <= 1e12 - 100));
});

Deno.test("windows: uniform over token positions, so longer documents give more", () => {
  // 3 + 6 + 1 = 10 windows of 4 tokens; 3 drawn per seed: each window 30% of the time.
  const trials = 20000;
  const counts = new Map<string, number>();
  for (let seed = 0; seed < trials; seed++) {
    for (const w of sampleWindows([6, 9, 4], 4, 3, seed).windows) {
      const key = `${w.document}:${w.start}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  assert.equal(counts.size, 10);
  // Binomial(20000, 0.3): sd ≈ 65; five of them either side.
  for (const [key, n] of counts) assert.ok(Math.abs(n - 6000) < 325, `${key}: ${n}`);
});

import assert from "node:assert/strict";
import {
  dropout,
  dropoutKeeps,
  dropoutKey,
  dropoutReference,
  dropoutThreshold,
} from "./dropout.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

for (const [count, p] of [[1, 0.5], [257, 0.1], [5003, 0.3]] as const) {
  Deno.test(`dropout ${p} matches the reference on ${count} values (set and accumulate)`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const x = randomArray(random, count);
    const base = randomArray(random, count);
    const key = dropoutKey(seed, 3, 1);
    const y = gpu.createBuffer(count * 4);
    const sum = gpu.upload(base);
    const batch = gpu.batch();
    const input = gpu.upload(x);
    dropout(batch, { x: input, y, count, p, key });
    dropout(batch, { x: input, y: sum, count, p, key, accumulate: true });
    batch.submit();
    const expected = dropoutReference(x, p, key);
    // Bitwise: the same mask, and x · f32(1 / (1 − p)) rounded once.
    assert.deepEqual(await gpu.readF32(y, count), Float32Array.from(expected), `seed ${seed}`);
    assertClose(await gpu.readF32(sum, count), expected.map((v, i) => v + base[i]), 1e-6);
  });
}

Deno.test("dropout's mask drops a fraction p of a large tensor, independently per key", async () => {
  const gpu = await testGpu();
  const count = 1 << 20;
  const ones = gpu.upload(new Float32Array(count).fill(1));
  for (const p of [0.05, 0.1, 0.5, 0.9]) {
    const y = gpu.createBuffer(count * 4);
    const other = gpu.createBuffer(count * 4);
    const batch = gpu.batch();
    dropout(batch, { x: ones, y, count, p, key: dropoutKey(7, 1, 0, 2, 3) });
    dropout(batch, { x: ones, y: other, count, p, key: dropoutKey(7, 1, 0, 2, 4) });
    batch.submit();
    const a = await gpu.readF32(y, count);
    const b = await gpu.readF32(other, count);
    let dropped = 0;
    let both = 0;
    let sum = 0;
    for (let i = 0; i < count; i++) {
      if (a[i] === 0) dropped++;
      if (a[i] === 0 && b[i] === 0) both++;
      sum += a[i];
    }
    // Binomial: the standard deviation of the fraction is √(p(1 − p) / n) ≤ 5e-4; allow 6σ.
    const sigma = Math.sqrt(p * (1 - p) / count);
    assert.ok(Math.abs(dropped / count - p) < 6 * sigma, `p ${p}: dropped ${dropped / count}`);
    // Two modules' masks are independent: both dropped with probability p².
    assert.ok(Math.abs(both / count - p * p) < 6 * sigma, `p ${p}: both ${both / count}`);
    // Inverted dropout keeps the mean.
    assert.ok(Math.abs(sum / count - 1) < 12 * sigma / (1 - p), `p ${p}: mean ${sum / count}`);
    y.destroy();
    other.destroy();
  }
});

Deno.test("dropout 0 keeps everything; the key words each change the mask", () => {
  assert.equal(dropoutThreshold(0), 0);
  const keys = [dropoutKey(1, 2, 3, 4, 5), dropoutKey(2, 2, 3, 4, 5), dropoutKey(1, 3, 3, 4, 5)];
  keys.push(dropoutKey(1, 2, 4, 4, 5), dropoutKey(1, 2, 3, 5, 5), dropoutKey(1, 2, 3, 4, 6));
  assert.equal(new Set(keys).size, keys.length);
  const threshold = dropoutThreshold(0.5);
  const masks = keys.map((k) =>
    Array.from({ length: 64 }, (_, i) => dropoutKeeps(k, i, threshold) ? 1 : 0).join("")
  );
  assert.equal(new Set(masks).size, masks.length);
  assert.throws(() => dropoutThreshold(1), /dropout must be in \[0, 1\)/);
});

import { rope, ropeReference } from "./rope.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

// The GPU's angles are f32 (as in HF transformers): position·inv_freq carries a relative error of
// a few 2^-24, i.e. ~5e-7·position radians, which bounds the error of the rotated values.
function tolerance(maxPosition: number): number {
  return Math.max(1e-5, 1e-6 * maxPosition);
}

const cases: [number, number, number, number, number][] = [
  // rows, heads, headDim, position0, theta
  [1, 1, 2, 0, 10000],
  [7, 3, 8, 0, 10000],
  [3, 2, 256, 5, 10000],
  [5, 8, 256, 4000, 10000],
  [2, 4, 256, 8000, 1e6],
  [4, 1, 130, 37, 10000],
];
for (const [rows, heads, headDim, position0, theta] of cases) {
  Deno.test(
    `rope matches the reference for T=${rows} H=${heads} D=${headDim} at ${position0}, θ=${theta}`,
    async () => {
      const gpu = await testGpu();
      const seed = testSeed();
      const x = randomArray(seededRandom(seed), rows * heads * headDim, 2);
      const buffer = gpu.upload(x);
      const batch = gpu.batch();
      rope(batch, { x: buffer, rows, heads, headDim, position0, theta });
      batch.submit();
      const actual = await gpu.readF32(buffer, x.length);
      const expected = ropeReference(x, rows, heads, headDim, position0, theta);
      assertClose(actual, expected, tolerance(position0 + rows - 1), `seed ${seed}`);
    },
  );
}

Deno.test("rope with linear scaling divides positions by the factor", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const [rows, heads, headDim, position0] = [3, 2, 64, 700];
  const x = randomArray(seededRandom(seed), rows * heads * headDim, 2);
  const buffer = gpu.upload(x);
  const batch = gpu.batch();
  rope(batch, { x: buffer, rows, heads, headDim, position0, theta: 1e6, factor: 8 });
  batch.submit();
  const actual = await gpu.readF32(buffer, x.length);
  const expected = ropeReference(x, rows, heads, headDim, position0, 1e6, 8);
  assertClose(actual, expected, tolerance(position0), `seed ${seed}`);
});

Deno.test("rope over 65535·256 pairs folds into a 2D grid", async () => {
  const gpu = await testGpu();
  const [rows, heads, headDim] = [520, 128, 256]; // 8.5M pairs
  const x = randomArray(seededRandom(testSeed()), rows * heads * headDim, 1);
  const buffer = gpu.upload(x);
  const batch = gpu.batch();
  rope(batch, { x: buffer, rows, heads, headDim, position0: 3, theta: 10000 });
  batch.submit();
  const actual = await gpu.readF32(buffer, x.length);
  assertClose(actual, ropeReference(x, rows, heads, headDim, 3, 10000), tolerance(600));
  buffer.destroy();
});

import { ropeBackward, ropeRotate64 } from "./rope_backward.ts";
import { ropeReference } from "./rope.ts";
import { assertGradient, dot } from "./gradient_check.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

const cases = [
  { rows: 1, heads: 1, headDim: 2, position0: 0, theta: 10000 },
  { rows: 7, heads: 3, headDim: 8, position0: 0, theta: 10000, factor: 8 },
  { rows: 5, heads: 4, headDim: 256, position0: 300, theta: 1e6 },
];

for (const c of cases) {
  Deno.test(
    `ropeBackward matches the reference for ${c.rows}×${c.heads}×${c.headDim} from ${c.position0}, θ ${c.theta}`,
    async () => {
      const gpu = await testGpu();
      const seed = testSeed();
      const random = seededRandom(seed);
      const dy = randomArray(random, c.rows * c.heads * c.headDim, 1);
      const grad = gpu.upload(dy);
      const batch = gpu.batch();
      ropeBackward(batch, { grad, ...c });
      batch.submit();
      const expected = ropeRotate64(dy, c, c.theta, -1, c.factor);
      // f32 angles reduced on the GPU: as attention_input_test's bound.
      const tol = Math.max(1e-5, 1e-6 * (c.position0 + c.rows));
      assertClose(await gpu.readF32(grad, dy.length), expected, tol, `seed ${seed}`);
    },
  );
}

Deno.test("ropeRotate64 forward is ropeReference, and its transpose the gradient", () => {
  const random = seededRandom(testSeed());
  const shape = { rows: 3, heads: 2, headDim: 6, position0: 11 };
  const x = randomArray(random, 36);
  const probe = randomArray(random, 36);
  assertClose(
    ropeRotate64(x, shape, 10000, 1, 2),
    ropeReference(x, 3, 2, 6, 11, 10000, 2),
    1e-6,
    "forward",
  );
  assertGradient(
    (v) => dot(ropeRotate64(v, shape, 10000, 1, 2), probe),
    x,
    ropeRotate64(probe, shape, 10000, -1, 2),
    "dx",
  );
});

Deno.test("ropeBackward rotates the k heads inside a (T, H + 2·Hkv, D) row in place", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const [rows, heads, kvHeads, headDim] = [6, 4, 2, 8];
  const width = (heads + 2 * kvHeads) * headDim;
  const qkv = randomArray(random, rows * width);
  const grad = gpu.upload(qkv);
  const batch = gpu.batch();
  const offset = heads * headDim;
  ropeBackward(batch, {
    grad,
    rows,
    heads: kvHeads,
    headDim,
    position0: 3,
    theta: 10000,
    rowStride: width,
    offset,
  });
  batch.submit();
  const kPart = (a: ArrayLike<number>) =>
    Array.from({ length: rows * kvHeads * headDim }, (_, i) => {
      const t = Math.floor(i / (kvHeads * headDim));
      return a[t * width + offset + i % (kvHeads * headDim)];
    });
  const shape = { rows, heads: kvHeads, headDim, position0: 3 };
  const expected = Float32Array.from(qkv);
  const rotated = ropeRotate64(kPart(qkv), shape, 10000, -1);
  rotated.forEach((v, i) => {
    const t = Math.floor(i / (kvHeads * headDim));
    expected[t * width + offset + i % (kvHeads * headDim)] = v;
  });
  // The q and v heads are untouched, the k heads rotated back.
  assertClose(await gpu.readF32(grad, qkv.length), expected, 1e-5, `seed ${seed}`);
});

Deno.test("ropeBackward restarts the positions of each of several sequences", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const [sequences, rows, heads, headDim] = [3, 5, 2, 8];
  const dy = randomArray(random, sequences * rows * heads * headDim);
  const grad = gpu.upload(dy);
  const batch = gpu.batch();
  ropeBackward(batch, {
    grad,
    rows: sequences * rows,
    heads,
    headDim,
    position0: 0,
    theta: 10000,
    sequenceRows: rows,
  });
  batch.submit();
  const size = rows * heads * headDim;
  const expected = new Float64Array(dy.length);
  for (let b = 0; b < sequences; b++) {
    const part = dy.subarray(b * size, (b + 1) * size);
    expected.set(ropeRotate64(part, { rows, heads, headDim, position0: 0 }, 10000, -1), b * size);
  }
  assertClose(await gpu.readF32(grad, dy.length), expected, 1e-5, `seed ${seed}`);
});

import { rmsNormBackward, rmsNormBackwardReference } from "./rms_norm_backward.ts";
import { rmsNormForward64 } from "./rms_norm.ts";
import { assertGradient, dot } from "./gradient_check.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

// Not D = 1: there y = w·x/√(x² + eps) is flat, and its gradient (~eps/x²) is all cancellation.
for (const [rows, dim, accumulate] of [[1, 2, 0], [3, 7, 1], [5, 257, 0], [2, 2048, 1]]) {
  Deno.test(
    `rmsNormBackward matches the reference for ${rows}×${dim}${accumulate ? ", accumulating" : ""}`,
    async () => {
      const gpu = await testGpu();
      const seed = testSeed();
      const random = seededRandom(seed);
      const x = randomArray(random, rows * dim, 3);
      const w = randomArray(random, dim, 2);
      const dy = randomArray(random, rows * dim, 1);
      const dx0 = randomArray(random, rows * dim, 1);
      const dx = gpu.upload(dx0);
      const batch = gpu.batch();
      rmsNormBackward(batch, {
        x: gpu.upload(x),
        weight: gpu.upload(w),
        dy: gpu.upload(dy),
        dx,
        rows,
        dim,
        eps: 1e-6,
        accumulate: accumulate === 1,
      });
      batch.submit();
      const grad = rmsNormBackwardReference(x, w, dy, rows, 1e-6);
      const expected = accumulate ? grad.map((v, i) => v + dx0[i]) : grad;
      // dx = w·dy/rms − (a multiple of x) is orthogonal to x, and for short rows can cancel to
      // far below its terms (1×2: dx is a multiple of x's perpendicular, any size): rounding
      // follows the terms, so they set the least scale.
      let terms = 0;
      for (let row = 0; row < rows; row++) {
        const xs = x.subarray(row * dim, (row + 1) * dim);
        const rms = Math.sqrt(xs.reduce((sum, v) => sum + v * v, 0) / dim + 1e-6);
        for (let i = 0; i < dim; i++) {
          terms = Math.max(terms, Math.abs(w[i] * dy[row * dim + i]) / rms);
        }
      }
      const actual = await gpu.readF32(dx, rows * dim);
      assertClose(actual, expected, 1e-5, `seed ${seed}`, terms);
    },
  );
}

Deno.test("rmsNormBackwardReference is the gradient of the forward (finite differences)", () => {
  const random = seededRandom(testSeed());
  const [rows, dim, eps] = [3, 5, 1e-3];
  const x = randomArray(random, rows * dim, 2);
  const w = randomArray(random, dim, 2);
  const probe = randomArray(random, rows * dim);
  assertGradient(
    (v) => dot(rmsNormForward64(v, w, rows, eps), probe),
    x,
    rmsNormBackwardReference(x, w, probe, rows, eps),
    "dx",
  );
});

Deno.test("rmsNormBackward in place on the q heads of a (T, H + 2·Hkv, D) gradient", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const [rows, heads, kvHeads, dim] = [5, 3, 1, 16];
  const width = (heads + 2 * kvHeads) * dim;
  const x = randomArray(random, rows * width, 2);
  const dy = randomArray(random, rows * width, 1);
  const w = randomArray(random, dim, 2);
  const grad = gpu.upload(dy);
  const batch = gpu.batch();
  rmsNormBackward(batch, {
    x: gpu.upload(x),
    weight: gpu.upload(w),
    dy: grad,
    rows: rows * heads,
    dim,
    eps: 1e-6,
    heads: { count: heads, rowStride: width, offset: 0 },
  });
  batch.submit();
  // Gather the q heads, take the reference, scatter back; k and v stay as they were.
  const at = (r: number) => Math.floor(r / heads) * width + (r % heads) * dim;
  const gather = (a: Float32Array) => {
    const out = new Float32Array(rows * heads * dim);
    for (let r = 0; r < rows * heads; r++) out.set(a.subarray(at(r), at(r) + dim), r * dim);
    return out;
  };
  const grads = rmsNormBackwardReference(gather(x), w, gather(dy), rows * heads, 1e-6);
  const expected = Float64Array.from(dy);
  for (let r = 0; r < rows * heads; r++) {
    expected.set(grads.subarray(r * dim, (r + 1) * dim), at(r));
  }
  assertClose(await gpu.readF32(grad, dy.length), expected, 1e-5, `seed ${seed}`);
});

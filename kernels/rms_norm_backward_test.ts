import {
  rmsNormBackward,
  rmsNormBackwardReference,
  rmsNormForward64,
} from "./rms_norm_backward.ts";
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
      assertClose(await gpu.readF32(dx, rows * dim), expected, 1e-5, `seed ${seed}`);
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

import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";
import { residualNorm, residualNormReference, rmsNorm, rmsNormReference } from "./rms_norm.ts";

for (const [rows, dim] of [[1, 1], [3, 7], [5, 257], [2, 2048]]) {
  Deno.test(`rmsNorm matches the reference for ${rows}×${dim}`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const x = randomArray(random, rows * dim, 3);
    const w = randomArray(random, dim, 2);
    const y = gpu.createBuffer(rows * dim * 4);
    const batch = gpu.batch();
    rmsNorm(batch, { x: gpu.upload(x), weight: gpu.upload(w), y, rows, dim, eps: 1e-6 });
    batch.submit();
    const actual = await gpu.readF32(y, rows * dim);
    assertClose(actual, rmsNormReference(x, w, rows, 1e-6), 1e-5, `seed ${seed}`);
  });
}

for (const [rows, dim] of [[1, 1], [3, 7], [5, 257], [2, 2048]]) {
  Deno.test(`residualNorm matches the reference for ${rows}×${dim}`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const x = randomArray(random, rows * dim, 3);
    const w = randomArray(random, dim, 2);
    const h = randomArray(random, rows * dim, 5);
    const next = randomArray(random, dim, 2);
    const hBuffer = gpu.upload(h);
    const y = gpu.createBuffer(rows * dim * 4);
    const batch = gpu.batch();
    residualNorm(batch, {
      x: gpu.upload(x),
      weight: gpu.upload(w),
      h: hBuffer,
      next: gpu.upload(next),
      y,
      rows,
      dim,
      eps: 1e-6,
    });
    batch.submit();
    const expected = residualNormReference(x, w, h, next, rows, 1e-6);
    assertClose(await gpu.readF32(hBuffer, rows * dim), expected.h, 1e-5, `h, seed ${seed}`);
    assertClose(await gpu.readF32(y, rows * dim), expected.y, 1e-5, `y, seed ${seed}`);
  });
}

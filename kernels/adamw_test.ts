import assert from "node:assert/strict";
import { adamw, adamwReference } from "./adamw.ts";
import { gradNorm, gradNormReference } from "./grad_norm.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

Deno.test("gradNorm matches the reference over buffers of awkward sizes, clipping or not", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const grads = [1, 7, 257, 5000].map((n) => randomArray(random, n, 0.3));
  for (const maxNorm of [0, 1, 1e6]) {
    const partials = gpu.createBuffer(grads.length * 4);
    const clip = gpu.createBuffer(8);
    const batch = gpu.batch();
    gradNorm(batch, {
      grads: grads.map((g) => ({ buffer: gpu.upload(g), count: g.length })),
      partials,
      clip,
      maxNorm,
    });
    batch.submit();
    const [factor, norm] = await gpu.readF32(clip, 2);
    const expected = gradNormReference(grads, maxNorm);
    assertClose([norm], [expected.norm], 1e-5, `norm, seed ${seed}`);
    assertClose([factor], [expected.factor], 1e-5, `factor ${maxNorm}, seed ${seed}`);
    if (maxNorm === 1) assert.ok(factor < 1, "the norm exceeds 1, so the factor clips");
    if (maxNorm !== 1) assert.equal(factor, 1);
  }
});

for (const clipped of [false, true]) {
  Deno.test(`adamw matches the reference over 4 steps${clipped ? ", gradients clipped" : ""}`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const n = 1000;
    const options = { lr: 1e-2, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };
    let state: { param: Float64Array; m: Float64Array; v: Float64Array } = {
      param: Float64Array.from(randomArray(random, n)),
      m: new Float64Array(n),
      v: new Float64Array(n),
    };
    const param = gpu.upload(Float32Array.from(state.param));
    const m = gpu.createBuffer(n * 4);
    const v = gpu.createBuffer(n * 4);
    const partials = gpu.createBuffer(4);
    const clip = gpu.createBuffer(8);
    for (let step = 1; step <= 4; step++) {
      // Gradients of varied scale, some tiny (where eps matters).
      const grad = randomArray(random, n, step === 3 ? 1e-5 : 2);
      const gradBuffer = gpu.upload(grad);
      const batch = gpu.batch();
      if (clipped) {
        gradNorm(batch, { grads: [{ buffer: gradBuffer, count: n }], partials, clip, maxNorm: 5 });
      }
      adamw(batch, {
        ...options,
        param,
        grad: gradBuffer,
        m,
        v,
        count: n,
        step,
        clip: clipped ? clip : undefined,
      });
      batch.submit();
      const factor = clipped ? gradNormReference([grad], 5).factor : 1;
      state = adamwReference(state, grad, step, options, factor);
    }
    assertClose(await gpu.readF32(param, n), state.param, 1e-5, `param, seed ${seed}`);
    assertClose(await gpu.readF32(m, n), state.m, 1e-5, `m, seed ${seed}`);
    assertClose(await gpu.readF32(v, n), state.v, 1e-5, `v, seed ${seed}`);
  });
}

Deno.test("adamw refuses step 0 (bias correction divides by 1 − β^t)", async () => {
  const gpu = await testGpu();
  const b = gpu.createBuffer(16);
  assert.throws(
    () => adamw(gpu.batch(), { param: b, grad: b, m: b, v: b, count: 4, step: 0, lr: 1e-3 }),
    /step 0 is not a whole number from 1/,
  );
});

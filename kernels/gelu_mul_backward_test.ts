import {
  geluMulBackward,
  geluMulBackwardReference,
  geluMulForward64,
  geluTanhGrad,
} from "./gelu_mul_backward.ts";
import { geluTanh } from "./gelu_mul.ts";
import { assertGradient, dot, numericGradient } from "./gradient_check.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

for (const [rows, width, spread] of [[1, 1, 3], [3, 7, 6], [5, 257, 4], [2, 3000, 12]]) {
  Deno.test(`geluMulBackward matches the reference for ${rows}×${width}`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const gateUp = randomArray(random, rows * 2 * width, spread);
    const dy = randomArray(random, rows * width, 1);
    const out = gpu.createBuffer(rows * 2 * width * 4);
    const batch = gpu.batch();
    geluMulBackward(batch, {
      gateUp: gpu.upload(gateUp),
      dy: gpu.upload(dy),
      dGateUp: out,
      rows,
      width,
    });
    batch.submit();
    const expected = geluMulBackwardReference(gateUp, dy, rows, width);
    assertClose(await gpu.readF32(out, rows * 2 * width), expected, 1e-5, `seed ${seed}`);
  });
}

Deno.test("geluTanhGrad is gelu's derivative (finite differences), tails included", () => {
  for (const x of [-30, -9, -3, -1, -0.3, 0, 1e-3, 0.5, 2, 7, 40]) {
    const [numeric] = numericGradient((v) => geluTanh(v[0]), [x]);
    assertClose([geluTanhGrad(x)], [numeric], 1e-7, `gelu'(${x})`);
  }
});

Deno.test("geluMulBackwardReference is the gradient of the forward (finite differences)", () => {
  const random = seededRandom(testSeed());
  const [rows, width] = [2, 5];
  const gateUp = randomArray(random, rows * 2 * width, 3);
  const probe = randomArray(random, rows * width);
  assertGradient(
    (v) => dot(geluMulForward64(v, rows, width), probe),
    gateUp,
    geluMulBackwardReference(gateUp, probe, rows, width),
    "dGateUp",
  );
});

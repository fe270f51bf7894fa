// The attention backward kernels composed as a training step runs them on Gemma 3's attention
// (q/k norms, RoPE, GQA, a sliding window), from the forward's raw q, k, v projection to its
// gradient: the forward's own kernels (attentionInput) make q, k, v; attentionBackward, then
// ropeBackward and rmsNormBackward in place on the q and k heads, give d(qkv). Checked against
// central differences of the float64 composition of the references.

import { attentionInput } from "./attention_input.ts";
import { attentionBackward, attentionForward64 } from "./attention_backward.ts";
import { rmsNormBackward } from "./rms_norm_backward.ts";
import { rmsNormForward64 } from "./rms_norm.ts";
import { ropeBackward, ropeRotate64 } from "./rope_backward.ts";
import { dot, numericGradient } from "./gradient_check.ts";
import { assertClose, randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

const [rows, heads, kvHeads, headDim] = [6, 4, 2, 8];
const [theta, eps, scale, window] = [10000, 1e-6, 0.35, 4];
const width = (heads + 2 * kvHeads) * headDim;

/** Heads [first, first + n) of every row of a (T, H + 2·Hkv, D) array, as (T, n, D). */
function headsOf(qkv: ArrayLike<number>, first: number, n: number): Float64Array {
  const out = new Float64Array(rows * n * headDim);
  for (let t = 0; t < rows; t++) {
    for (let i = 0; i < n * headDim; i++) {
      out[t * n * headDim + i] = qkv[t * width + first * headDim + i];
    }
  }
  return out;
}

/** The attention output from the raw projection, in f64: norms, RoPE, attention. */
function forward64(qkv: ArrayLike<number>, qNorm: Float32Array, kNorm: Float32Array) {
  const prepare = (first: number, n: number, norm: Float32Array) =>
    ropeRotate64(
      rmsNormForward64(headsOf(qkv, first, n), norm, rows * n, eps),
      { rows, heads: n, headDim, position0: 0 },
      theta,
      1,
    );
  const q = prepare(0, heads, qNorm);
  const k = prepare(heads, kvHeads, kNorm);
  const v = headsOf(qkv, heads + kvHeads, kvHeads);
  return attentionForward64(q, k, v, { rows, heads, kvHeads, headDim, scale, window });
}

Deno.test("attention backward chain from the raw q, k, v projection equals finite differences", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  const qkv = randomArray(random, rows * width, 1.5);
  const qNorm = randomArray(random, headDim, 1);
  const kNorm = randomArray(random, headDim, 1);
  const dOut = randomArray(random, rows * heads * headDim);

  const qkvBuffer = gpu.upload(qkv);
  const q = gpu.createBuffer(rows * heads * headDim * 4);
  const keys = gpu.createBuffer(rows * kvHeads * headDim * 4);
  const values = gpu.createBuffer(rows * kvHeads * headDim * 4);
  const dqkv = gpu.createBuffer(rows * width * 4);
  const norms = { q: gpu.upload(qNorm), k: gpu.upload(kNorm) };
  const shape = { rows, heads, kvHeads, headDim, scale, window };
  const batch = gpu.batch();
  attentionInput(batch, {
    qkv: qkvBuffer,
    q,
    keys,
    values,
    rows,
    heads,
    kvHeads,
    headDim,
    position0: 0,
    cacheRows: rows,
    theta,
    headNorms: { ...norms, eps },
  });
  attentionBackward(batch, {
    ...shape,
    q,
    k: keys,
    v: values,
    dOut: gpu.upload(dOut),
    dqkv,
    stats: gpu.createBuffer(rows * heads * 8),
  });
  for (const [first, n, norm] of [[0, heads, norms.q], [heads, kvHeads, norms.k]] as const) {
    const offset = first * headDim;
    ropeBackward(batch, {
      grad: dqkv,
      rows,
      heads: n,
      headDim,
      position0: 0,
      theta,
      rowStride: width,
      offset,
    });
    rmsNormBackward(batch, {
      x: qkvBuffer,
      weight: norm,
      dy: dqkv,
      rows: rows * n,
      dim: headDim,
      eps,
      heads: { count: n, rowStride: width, offset },
    });
  }
  batch.submit();
  const expected = numericGradient((x) => dot(forward64(x, qNorm, kNorm), dOut), qkv);
  // f32 kernels against f64 differences (measured: ~1.3e-7).
  assertClose(await gpu.readF32(dqkv, rows * width), expected, 1e-5, `seed ${seed}`);
});

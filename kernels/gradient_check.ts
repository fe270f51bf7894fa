// Test helpers for the backward kernels: central finite differences of a float64 reference
// forward, and a seeded probe that turns a vector output into a scalar loss.

import { assertClose } from "./test_util.ts";

/**
 * ∂f/∂x by central differences, (f(x + h·e_i) − f(x − h·e_i)) / 2h for every i. In f64 with
 * h = 1e-5 the truncation error (h²·f‴/6) and the rounding error (ε·|f| / h) both stay near 1e-10
 * relative for the smooth functions of a forward pass.
 */
export function numericGradient(
  f: (x: Float64Array) => number,
  x: ArrayLike<number>,
  h = 1e-5,
): Float64Array {
  const point = Float64Array.from(x);
  const grad = new Float64Array(point.length);
  for (let i = 0; i < point.length; i++) {
    const v = point[i];
    point[i] = v + h;
    const up = f(point);
    point[i] = v - h;
    const down = f(point);
    point[i] = v;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

/** Σ a·b in f64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Asserts that `analytic` is the gradient of the scalar `f` at x: equal to its central
 * differences within `rtol` of the gradient's largest element.
 */
export function assertGradient(
  f: (x: Float64Array) => number,
  x: ArrayLike<number>,
  analytic: ArrayLike<number>,
  what: string,
  rtol = 1e-6,
): void {
  assertClose(analytic, numericGradient(f, x), rtol, `${what}: analytic vs finite differences`);
}

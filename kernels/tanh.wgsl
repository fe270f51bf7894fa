// tanh(u) to a few f32 ulps over the whole line; prepended to the kernels that use it (softcap,
// attention). Drivers' tanh is unreliable: lavapipe's loses all relative precision near 0 (its
// (e^2u - 1)/(e^2u + 1) cancels) and some return NaN for large |u| (e^2u overflows).
fn tanhPrecise(u: f32) -> f32 {
  let a = abs(u);
  if (a < 0.125) {
    // Taylor series; the first omitted term is below 2^-29 relative.
    let u2 = u * u;
    return u * (1.0 + u2 * (-1.0 / 3.0 + u2 * (2.0 / 15.0 + u2 * (-17.0 / 315.0))));
  }
  let e = exp(-2.0 * a); // in (0, 0.78]: never overflows
  return sign(u) * (1.0 - e) / (1.0 + e);
}

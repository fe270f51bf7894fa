// The backward of GeGLU's elementwise half (gelu_mul.ts): the GPU kernel and float64
// references. Needs the forward's (T, 2F) gate/up projection (kept, or recomputed by one matmul).

import { type Binding, GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import { geluTanh } from "./gelu_mul.ts";
import geluSource from "./gelu.wgsl" with { type: "text" };
import gradSource from "./gelu_grad.wgsl" with { type: "text" };
import source from "./gelu_mul_backward.wgsl" with { type: "text" };

const WGSL = geluSource + gradSource + source;
const WG = 256;

export interface GeluMulBackwardArgs {
  /** (T, 2F) f32 input of the forward: each row's gate projection, then its up projection. */
  gateUp: Binding;
  /** (T, F) f32 gradient of the output. */
  dy: Binding;
  /** (T, 2F) f32 output: gradients of the gate, then of the up projection, per row. */
  dGateUp: GPUBuffer;
  rows: number;
  /** F. */
  width: number;
}

export function geluMulBackward(batch: GpuBatch, args: GeluMulBackwardArgs): void {
  batch.dispatch(
    batch.gpu.pipeline(WGSL),
    new Uniforms().u32(args.rows).u32(args.width),
    [args.gateUp, args.dy, args.dGateUp],
    workgroupGrid(batch.gpu, Math.ceil(args.rows * args.width / WG)),
  );
}

/** gelu_tanh'(x) in f64 (the derivative of gelu_mul.ts's geluTanh). */
export function geluTanhGrad(x: number): number {
  const c = Math.sqrt(2 / Math.PI);
  const u = c * (x + 0.044715 * x ** 3);
  const e = Math.exp(-2 * u);
  const s = 1 / (1 + e);
  // σ(2u)(1 − σ(2u)) = e·s², 0 where e overflows.
  const slope = Number.isFinite(e) ? e * s * s : 0;
  return s + x * 2 * c * (1 + 3 * 0.044715 * x * x) * slope;
}

/** The forward in f64: (T, F) gelu(gate)·up from rows of (gate, up). */
export function geluMulForward64(gateUp: ArrayLike<number>, rows: number, width: number) {
  const y = new Float64Array(rows * width);
  for (let t = 0; t < rows; t++) {
    for (let f = 0; f < width; f++) {
      y[t * width + f] = geluTanh(gateUp[2 * t * width + f]) * gateUp[(2 * t + 1) * width + f];
    }
  }
  return y;
}

/** (T, 2F): dy·up·gelu'(gate), then dy·gelu(gate), per row, in f64. */
export function geluMulBackwardReference(
  gateUp: ArrayLike<number>,
  dy: ArrayLike<number>,
  rows: number,
  width: number,
): Float64Array {
  const out = new Float64Array(rows * 2 * width);
  for (let t = 0; t < rows; t++) {
    for (let f = 0; f < width; f++) {
      const gate = 2 * t * width + f;
      const g = gateUp[gate];
      const up = gateUp[gate + width];
      const d = dy[t * width + f];
      out[gate] = d * up * geluTanhGrad(g);
      out[gate + width] = d * geluTanh(g);
    }
  }
  return out;
}

// One AdamW step on the GPU with PyTorch's formula (torch.optim.AdamW: decoupled weight decay,
// bias correction; amsgrad and maximize off), optionally scaling the gradient by the clip factor
// grad_norm.ts left on the GPU. The GPU kernel and the float64 reference.

import { type Binding, GpuBatch, GpuError, Uniforms, workgroupGrid } from "./gpu.ts";
import source from "./adamw.wgsl" with { type: "text" };

const WG = 256;

/** AdamW's hyper-parameters, with PyTorch's defaults. */
export interface AdamwOptions {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.999. */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Default 0.01. */
  weightDecay?: number;
}

export interface AdamwArgs extends AdamwOptions {
  /** (n) f32 parameters, updated. */
  param: GPUBuffer;
  /** (n) f32 gradient. */
  grad: Binding;
  /** (n) f32 moments, zero before step 1, updated. */
  m: GPUBuffer;
  v: GPUBuffer;
  count: number;
  /** The step number t, from 1 (bias correction). */
  step: number;
  /** (2) f32 from gradNorm: the gradient is multiplied by its first value. */
  clip?: Binding;
}

function hyper(o: AdamwOptions) {
  return {
    lr: o.lr,
    beta1: o.beta1 ?? 0.9,
    beta2: o.beta2 ?? 0.999,
    eps: o.eps ?? 1e-8,
    weightDecay: o.weightDecay ?? 0.01,
  };
}

export function adamw(batch: GpuBatch, args: AdamwArgs): void {
  if (!(args.step >= 1) || !Number.isInteger(args.step)) {
    throw new GpuError(`adamw: step ${args.step} is not a whole number from 1`);
  }
  const { lr, beta1, beta2, eps, weightDecay } = hyper(args);
  const uniforms = new Uniforms()
    .u32(args.count)
    .f32(1 - lr * weightDecay)
    .f32(beta1)
    .f32(beta2)
    .f32(eps)
    .f32(lr / (1 - beta1 ** args.step))
    .f32(Math.sqrt(1 - beta2 ** args.step));
  const bindings: Binding[] = [args.param, args.grad, args.m, args.v];
  if (args.clip) bindings.push(args.clip);
  batch.dispatch(
    batch.gpu.pipeline(source, {}, args.clip ? "clipped" : "main"),
    uniforms,
    bindings,
    workgroupGrid(batch.gpu, Math.ceil(args.count / WG)),
  );
}

/** One AdamW step in f64 on copies (PyTorch's order of operations); `clip` scales the gradient. */
export function adamwReference(
  state: { param: ArrayLike<number>; m: ArrayLike<number>; v: ArrayLike<number> },
  grad: ArrayLike<number>,
  step: number,
  options: AdamwOptions,
  clip = 1,
): { param: Float64Array; m: Float64Array; v: Float64Array } {
  const { lr, beta1, beta2, eps, weightDecay } = hyper(options);
  const param = Float64Array.from(state.param);
  const m = Float64Array.from(state.m);
  const v = Float64Array.from(state.v);
  const stepSize = lr / (1 - beta1 ** step);
  const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * clip;
    param[i] *= 1 - lr * weightDecay;
    m[i] += (1 - beta1) * (g - m[i]);
    v[i] = beta2 * v[i] + (1 - beta2) * g * g;
    param[i] -= stepSize * m[i] / (Math.sqrt(v[i]) / bc2Sqrt + eps);
  }
  return { param, m, v };
}

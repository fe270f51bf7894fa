// x = s·x in place, over the first `count` values of a buffer (LoRA's scale on its rank-r
// product, core/lora.ts).

import { type Binding, GpuBatch, Uniforms, workgroupGrid } from "./gpu.ts";
import source from "./scale.wgsl" with { type: "text" };

const WG = 256;

export interface ScaleArgs {
  /** (n) f32, updated in place. */
  x: Binding;
  count: number;
  factor: number;
}

export function scaleInPlace(batch: GpuBatch, args: ScaleArgs): void {
  if (args.count === 0) return;
  batch.dispatch(
    batch.gpu.pipeline(source),
    new Uniforms().u32(args.count).f32(args.factor),
    [args.x],
    workgroupGrid(batch.gpu, Math.ceil(args.count / WG)),
  );
}

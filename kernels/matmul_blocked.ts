// The workgroup-blocked GEMM for prefill (T > 1) on GPUs: the same y = x·wᵀ as `matmul`
// (matmul.ts), with the same arguments, for weights of every type. Each workgroup stages 64 × 64
// tiles of x and w in workgroup memory (see matmul_blocked.wgsl). On lavapipe it is slower than
// matmulTiled and the gemm loop; tune.ts measures it against them on other devices. Tested
// through matmul (matmul_test.ts), whose variant can ask for it.

import { type GpuBatch, type GpuContext, GpuError, workgroupGrid } from "./gpu.ts";
import type { MatmulArgs } from "./matmul.ts";
import { chunkDispatch, formatPipeline, formatSources } from "./weight_formats.ts";
import template from "./matmul_blocked.wgsl" with { type: "text" };

const sources = formatSources(template);

/** Rows of x, and of w, per workgroup (the kernel's BT and BN). */
const TILE = 64;
/** Invocations per workgroup (16 × 16) and bytes of workgroup memory (two 64 × 64 f32 tiles). */
const INVOCATIONS = 256;
const WORKGROUP_BYTES = 2 * TILE * TILE * 4;

/** Whether `gpu`'s device can run the kernel (32 KiB of workgroup memory is above the default). */
export function canUseBlockedMatmul(gpu: GpuContext): boolean {
  const limits = gpu.device.limits;
  return limits.maxComputeInvocationsPerWorkgroup >= INVOCATIONS &&
    limits.maxComputeWorkgroupSizeX >= 16 && limits.maxComputeWorkgroupSizeY >= 16 &&
    limits.maxComputeWorkgroupStorageSize >= WORKGROUP_BYTES;
}

/**
 * y[t, yOffset + n] (+)= Σ_k x[t, k] · w[n, k] for any weight type: `matmul`'s semantics (one
 * dispatch per chunk of w, writing its band of columns), any T, N and K; not `glu`.
 */
export function matmulBlocked(batch: GpuBatch, args: MatmulArgs): void {
  const { w, rows } = args;
  if (args.glu) throw new GpuError("matmulBlocked: glu is not supported");
  if (!canUseBlockedMatmul(batch.gpu)) {
    throw new GpuError("matmulBlocked: the device lacks the workgroup size or memory it needs");
  }
  const yOffset = args.yOffset ?? 0;
  const yStride = args.yStride ?? w.rows;
  if (yOffset + w.rows > yStride) {
    throw new GpuError(
      `matmulBlocked: ${w.rows} output columns from offset ${yOffset} exceed the row stride ${yStride}`,
    );
  }
  if (rows === 0 || w.rows === 0) return;
  const tiles = Math.ceil(rows / TILE);
  if (tiles > batch.gpu.maxWorkgroupsPerDimension) {
    throw new GpuError(`matmulBlocked: ${rows} rows of x need too many workgroups`);
  }
  const { pipeline, ...strides } = formatPipeline(batch.gpu, sources, w);
  for (const chunk of w.chunks) {
    const { uniforms, bindings } = chunkDispatch(args, chunk, strides, { yOffset, yStride });
    const [gx, gz] = workgroupGrid(batch.gpu, Math.ceil(chunk.rows / TILE));
    batch.dispatch(pipeline, uniforms, bindings, [gx, tiles, gz]);
  }
}

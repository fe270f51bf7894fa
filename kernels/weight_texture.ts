// Quantized weights read from textures: each chunk's words copied, on the device, into an
// rgba32uint texture (texel i = 16 bytes from byte 16·i, rows of TEXELS_PER_ROW texels), which
// matmul.wgsl's decode loops then read through textureLoad (weight_texels.wgsl) instead of the
// storage buffer.
//
// Why: lavapipe loads a storage buffer one 32-bit component per lane at a time, each behind a
// bounds check and a branch, where a texel fetch of 16 bytes is one unrolled gather. The decode
// GEMVs, bound by their loads there, gain: Gemma 3 270M's 262144 × 640 Q8_0 output head 1.75–2×
// (82 → 47 ms), its 2048 × 640 Q8_0 1.2–1.35×, Q4_K / Q6_K 640 × 2048 1.15–1.3×, Q5_0 1.1×
// (lavapipe on Mesa 22.3; tools/gemv_bench.ts --textures times them). A texture is a second copy
// of the weights (kernels that have no texture variant, e.g. training's, read the buffers), so a
// model takes them only where they pay: on a software adapter (LoadOptions.weightTextures).
// Float weights keep their buffers: their GEMV already reads at 50–80% of a plain read there.

import { type GpuContext, GpuError } from "./gpu.ts";
import { type GpuMatrix, isQuantized } from "./matrix.ts";
import type { QuantType } from "./quant.ts";
import bufferWords from "./weight_words.wgsl" with { type: "text" };
import textureWords from "./weight_texels.wgsl" with { type: "text" };

/** Texels per texture row: a power of 2 (weight_texels.wgsl shifts by its log2) within 8192. */
export const TEXELS_PER_ROW = 8192;
const TEXEL_BYTES = 16;

/** The storage binding of w that the texture replaces, as the weight templates declare it. */
const BUFFER_BINDING = /var<storage, read> w: array<(?:WElem|vec4<u32>)>;/;

/** `source` (a weight template joined with its format) reading w from a texture. */
export function texturedSource(source: string): string {
  if (!source.includes(bufferWords) || !BUFFER_BINDING.test(source)) {
    throw new Error("texturedSource: the buffer binding or weight_words.wgsl not found");
  }
  return source.replace(bufferWords, textureWords)
    .replace(BUFFER_BINDING, "var w: texture_2d<u32>;");
}

/** Each quantized format's source of a template, reading w from a texture. */
export function texturedSources(sources: Record<QuantType, string>): Record<QuantType, string> {
  return Object.fromEntries(
    Object.entries(sources).map(([type, source]) => [type, texturedSource(source)]),
  ) as Record<QuantType, string>;
}

/** Whether every chunk of `m` fits a texture on `gpu` (and `m` is of a type that takes one). */
export function fitsWeightTextures(gpu: GpuContext, m: GpuMatrix): boolean {
  const maxRows = gpu.device.limits.maxTextureDimension2D;
  return isQuantized(m) && TEXELS_PER_ROW <= maxRows &&
    m.chunks.every((c) => Math.ceil(c.buffer.size / TEXEL_BYTES) <= TEXELS_PER_ROW * maxRows);
}

/**
 * Gives every chunk of the quantized matrix `m` its texture, copied from its buffer on the
 * device (recorded and submitted here; the buffer must hold its weights already).
 */
export function addWeightTextures(gpu: GpuContext, m: GpuMatrix): void {
  if (!fitsWeightTextures(gpu, m)) {
    throw new GpuError(`a ${m.dtype} ${m.rows}×${m.cols} matrix does not fit weight textures`);
  }
  const encoder = gpu.device.createCommandEncoder();
  for (const chunk of m.chunks) {
    if (chunk.texels) continue;
    const texels = chunk.buffer.size / TEXEL_BYTES;
    const fullRows = Math.floor(texels / TEXELS_PER_ROW);
    const rest = texels % TEXELS_PER_ROW;
    const texture = gpu.device.createTexture({
      label: `${chunk.buffer.label} texels`,
      size: [TEXELS_PER_ROW, fullRows + (rest > 0 ? 1 : 0)],
      format: "rgba32uint",
      usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST,
    });
    const bytesPerRow = TEXELS_PER_ROW * TEXEL_BYTES;
    if (fullRows > 0) {
      encoder.copyBufferToTexture({ buffer: chunk.buffer, bytesPerRow }, { texture }, [
        TEXELS_PER_ROW,
        fullRows,
      ]);
    }
    if (rest > 0) {
      encoder.copyBufferToTexture(
        { buffer: chunk.buffer, offset: fullRows * bytesPerRow, bytesPerRow },
        { texture, origin: [0, fullRows] },
        [rest, 1],
      );
    }
    chunk.texels = { texture, view: texture.createView() };
  }
  gpu.device.queue.submit([encoder.finish()]);
}

/** Whether matmul reads `m` from its textures. */
export function hasWeightTextures(m: GpuMatrix): boolean {
  return m.chunks.length > 0 && m.chunks.every((c) => c.texels !== undefined);
}

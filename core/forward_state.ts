// The GPU buffers a forward pass works in (ForwardState, gemma.ts): KV caches for one sequence or
// several (batched decoding), and scratch sized for a chunk of rows, allocated once so that
// decoding allocates nothing per token.

import { type GpuBatch, GpuError } from "../kernels/gpu.ts";
import { splitKScratchBytes } from "../kernels/attention_split.ts";
import type { ForwardState } from "./gemma.ts";
import { activationRowElements, type Gemma } from "./weights.ts";

export class ContextError extends Error {
  override name = "ContextError";
}

export interface ForwardStateOptions {
  /** Positions each sequence's KV cache holds; default min(max_position_embeddings, 4096). */
  contextLength?: number;
  /** Rows per forward call (a longer prompt runs in several chunks); default 128. */
  maxBatchRows?: number;
  /** Sequences with a KV cache each (batched decoding); default 1. */
  sequences?: number;
}

/** u32s per sequence in `picked` and the alignment of rows bound one at a time: 256 bytes. */
export const PICK_STRIDE = 64;

/** `n` rounded up to whole 256-byte binding offsets (in 4-byte elements). */
export function alignedElements(n: number): number {
  return Math.ceil(n / PICK_STRIDE) * PICK_STRIDE;
}

/** Throws unless every id is a token of `model`'s vocabulary (before any is written to the GPU). */
export function checkTokenIds(model: Gemma, ids: ArrayLike<number>): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= model.config.vocabSize) {
      throw new RangeError(`token id ${id} is outside the vocabulary`);
    }
  }
}

/** How many first tokens `a` and `b` share, at most `limit`. */
export function sharedLength(a: ArrayLike<number>, b: ArrayLike<number>, limit = Infinity): number {
  const most = Math.min(limit, a.length, b.length);
  let n = 0;
  while (n < most && a[n] === b[n]) n++;
  return n;
}

/** The most sequences of `contextLength` positions whose KV caches fit in one binding. */
export function maxSequences(model: Gemma, contextLength: number): number {
  const c = model.config;
  const rowBytes = c.numKvHeads * c.headDim * 4;
  return Math.max(1, Math.floor(model.gpu.maxBindingBytes / (contextLength * rowBytes)));
}

export function createForwardState(model: Gemma, options: ForwardStateOptions = {}): ForwardState {
  const c = model.config;
  const gpu = model.gpu;
  const sequences = options.sequences ?? 1;
  const capacity = options.contextLength ?? Math.min(c.maxPositions, 4096);
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new ContextError(`context length must be a positive integer, got ${capacity}`);
  }
  if (capacity > c.maxPositions) {
    throw new ContextError(
      `context length ${capacity} exceeds the model's max_position_embeddings (${c.maxPositions})`,
    );
  }
  const kvWidth = c.numKvHeads * c.headDim;
  if (sequences * capacity * kvWidth * 4 > gpu.maxBindingBytes) {
    const fits = Math.floor(gpu.maxBindingBytes / (kvWidth * 4 * sequences));
    throw new GpuError(
      sequences === 1
        ? `A KV cache of ${capacity} positions exceeds the device's binding limit; use a context of at most ${fits}`
        : `KV caches of ${capacity} positions for ${sequences} sequences exceed the device's binding limit; use a context of at most ${fits}, or fewer sequences`,
    );
  }
  // Rows of activations per forward call, within one binding for the widest of them.
  const maxRows = Math.max(
    1,
    Math.min(
      Math.max(options.maxBatchRows ?? 128, sequences),
      sequences === 1 ? capacity : Infinity,
      Math.floor(gpu.maxBindingBytes / (activationRowElements(c) * 4)),
    ),
  );
  if (maxRows < sequences) {
    throw new GpuError(`${sequences} sequences do not fit in one forward call on this device`);
  }
  // Sliding-window layers keep a ring of window + maxRows rows (see ForwardState.cacheRows).
  const cacheRows = c.layerWindows.map((w) => (w > 0 ? Math.min(capacity, w + maxRows) : capacity));
  // One sequence reads its logits as one block; rows of several are bound one at a time.
  const logitStride = sequences === 1 ? c.vocabSize : alignedElements(c.vocabSize);
  const maxLogitRows = Math.max(
    sequences,
    Math.min(maxRows, 32, Math.floor(gpu.maxBindingBytes / (logitStride * 4))),
  );
  const seenStride = alignedElements(Math.ceil(c.vocabSize / 32));
  const buffer = (elements: number, label: string) => gpu.createBuffer(elements * 4, label);
  const qWidth = c.numHeads * c.headDim;
  const d = c.hiddenSize;
  const f = c.intermediateSize;
  return {
    keys: cacheRows.map((n, i) => buffer(sequences * n * kvWidth, `keys ${i}`)),
    values: cacheRows.map((n, i) => buffer(sequences * n * kvWidth, `values ${i}`)),
    cacheRows,
    capacity,
    sequences,
    maxRows,
    ids: buffer(maxRows, "ids"),
    h: buffer(maxRows * d, "h"),
    x: buffer(maxRows * d, "x"),
    x2: buffer(maxRows * d, "x2"),
    qkv: buffer(maxRows * (qWidth + 2 * kvWidth), "q, k, v"),
    q: buffer(maxRows * qWidth, "q"),
    attended: buffer(maxRows * qWidth, "attended"),
    gateUp: buffer(maxRows * 2 * f, "gate, up"),
    act: buffer(maxRows * f, "act"),
    logitInput: buffer(maxLogitRows * d, "logit input"),
    logits: buffer(maxLogitRows * logitStride, "logits"),
    logitStride,
    maxLogitRows,
    picked: buffer(sequences * PICK_STRIDE, "picked tokens"),
    seen: buffer(sequences * seenStride, "seen tokens"),
    seenStride,
    // Split-K attention runs only while rows × heads < 256 (preferSplitK), so that many rows.
    attentionScratch: gpu.createBuffer(
      splitKScratchBytes(
        Math.min(maxRows, Math.ceil(256 / c.numHeads)),
        c.numHeads,
        c.headDim,
        capacity,
      ),
      "attention scratch",
    ),
    targets: buffer(maxLogitRows, "targets"),
    scores: buffer(maxLogitRows * 2, "scores"),
  };
}

export function destroyForwardState(s: ForwardState): void {
  for (const b of [...s.keys, ...s.values]) b.destroy();
  for (
    const b of [
      s.ids,
      s.h,
      s.x,
      s.x2,
      s.qkv,
      s.q,
      s.attended,
      s.gateUp,
      s.act,
      s.logitInput,
      s.logits,
      s.picked,
      s.seen,
      s.targets,
      s.attentionScratch,
      s.scores,
    ]
  ) b.destroy();
}

/**
 * Whether a cache written up to position `written` (since it last started from nothing) can be
 * continued after its first `position` tokens: every sliding-window layer still holds the rows of
 * the window before `position`. A ring of window + slack rows loses the row of position r once
 * position r + ring is written, and the tokens after `position` attend back to
 * position − window + 1, so the cache has to have run at most slack positions past `position`
 * (or never wrapped).
 */
export function ringsHold(
  model: Gemma,
  state: ForwardState,
  written: number,
  position: number,
): boolean {
  const { layerWindows } = model.config;
  return state.cacheRows.every((ring, layer) => {
    const window = layerWindows[layer];
    return window === 0 || written <= ring || written - position <= ring - window;
  });
}

/** A buffer for one layer's cache rows of one sequence, in transit between sequences. */
export function createCacheScratch(model: Gemma, state: ForwardState): GPUBuffer {
  const c = model.config;
  const bytes = Math.max(...state.cacheRows) * c.numKvHeads * c.headDim * 4;
  return model.gpu.createBuffer(bytes, "cache rows in transit");
}

/**
 * Records copies of sequence `from`'s first cache rows (`rows(layer)` of them, keys and values)
 * over those of each sequence in `to`, by way of `scratch` (a buffer cannot be copied onto
 * itself; see createCacheScratch).
 */
export function copyCacheRows(
  batch: GpuBatch,
  model: Gemma,
  state: ForwardState,
  scratch: GPUBuffer,
  copy: { from: number; to: number[]; rows: (layer: number) => number },
): void {
  const c = model.config;
  const rowBytes = c.numKvHeads * c.headDim * 4;
  state.cacheRows.forEach((cacheRows, layer) => {
    const bytes = Math.min(copy.rows(layer), cacheRows) * rowBytes;
    if (bytes === 0) return;
    const stretch = cacheRows * rowBytes;
    for (const cache of [state.keys[layer], state.values[layer]]) {
      batch.copy(cache, copy.from * stretch, scratch, 0, bytes);
      for (const to of copy.to) batch.copy(scratch, 0, cache, to * stretch, bytes);
    }
  });
}

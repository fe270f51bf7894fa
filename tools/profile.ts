// Measurements for the benchmark: the time shares of one decode step, and how fast this machine
// reads memory, to judge the decode GEMVs against.

import type { GemmaSession } from "../core/mod.ts";
import { recordForward } from "../core/gemma.ts";
import type { GpuBatch, GpuContext } from "../kernels/gpu.ts";
import { xorFold, xorFoldOutputWords } from "../kernels/xor_fold.ts";

/**
 * Sections of a decode step: ms and weight bytes read. Each section's time is its best of three
 * steps: this machine's speed drifts, and the GEMVs are compared with a best-of plain read.
 */
export async function profileDecodeStep(
  session: GemmaSession,
): Promise<Map<string, { ms: number; bytes: number }>> {
  session.reset();
  session.append([2, 651, 6037, 576]);
  await session.argmax();
  await session.profileDecodeStep(6081); // warm-up: pipelines for single-row shapes
  const best = new Map<string, { ms: number; bytes: number }>();
  for (const id of [603, 1024, 777]) {
    for (const [label, p] of await session.profileDecodeStep(id)) {
      const ms = Math.min(p.ms, best.get(label)?.ms ?? Infinity);
      best.set(label, { ms, bytes: p.weightBytes });
    }
  }
  return best;
}

/** Records one decode step of `session` at `position` (its input id is whatever state.ids holds). */
export function recordDecodeStep(batch: GpuBatch, session: GemmaSession, position: number): void {
  recordForward(batch, session.model, session.state, {
    rows: 1,
    position0: position,
    logitsFrom: 0,
    logitRows: 1,
    pick: {},
  });
}

/**
 * What recording one decode step costs on the CPU: its commands (dispatches and copies, each a
 * fixed cost on the device too) and the median milliseconds of 21 recordings (never submitted).
 */
export function decodeStepRecording(session: GemmaSession): { commands: number; ms: number } {
  const times: number[] = [];
  let commands = 0;
  for (let i = 0; i < 21; i++) {
    const batch = session.model.gpu.batch();
    const start = performance.now();
    recordDecodeStep(batch, session, 4);
    times.push(performance.now() - start);
    commands = batch.commands;
  }
  return { commands, ms: times.sort((a, b) => a - b)[10] };
}

/**
 * Bytes per second of copying a 256 MiB array in memory on the CPU (TypedArray.set: a memcpy,
 * which reads each byte once and writes it once), best of 5. A plain read alone is faster.
 */
export function memoryCopyBandwidth(): number {
  const bytes = 256 * 2 ** 20;
  const source = new Uint8Array(bytes).fill(1);
  const target = new Uint8Array(bytes);
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    target.set(source);
    best = Math.min(best, performance.now() - start);
  }
  return bytes / (best / 1000);
}

/**
 * Bytes per second at which a kernel on `gpu` reads a buffer of non-zero data (xorFold, the
 * plainest read there is, GPU-timed like the profile): the best over a few lane counts and three
 * rounds, each the total of 8 passes over up to 128 MiB.
 */
export async function deviceReadBandwidth(gpu: GpuContext): Promise<number> {
  const bytes = Math.min(128 * 2 ** 20, gpu.maxBindingBytes) & ~15;
  const input = gpu.createBuffer(bytes);
  // Untouched zero pages could be served from one cached page on a software GPU: fill them.
  const piece = new Uint32Array(2 ** 20).map((_, i) => Math.imul(i + 1, 2654435761));
  for (let at = 0; at < bytes; at += piece.byteLength) {
    gpu.write(input, piece.subarray(0, Math.min(piece.length, (bytes - at) / 4)), at);
  }
  const words = bytes / 4;
  let best = 0;
  try {
    for (const lanes of [8, 64, 256]) {
      if (lanes > gpu.device.limits.maxComputeInvocationsPerWorkgroup) continue;
      const out = gpu.createBuffer(xorFoldOutputWords(words, lanes) * 4);
      const run = async (passes: number) => {
        const batch = gpu.batch({ profile: true });
        batch.mark("read");
        for (let i = 0; i < passes; i++) xorFold(batch, { input, words, out, lanes });
        return (await batch.profile()).get("read")!.ms;
      };
      await run(1); // compiles the pipeline
      for (let round = 0; round < 3; round++) {
        best = Math.max(best, 8 * bytes / (await run(8) / 1000));
      }
      out.destroy();
    }
  } finally {
    input.destroy();
  }
  return best;
}

// Measurements for the benchmark: the time shares of one decode step, and how fast this machine
// reads memory, to judge the decode GEMVs against.

import type { GemmaSession } from "../core/mod.ts";

/** Sections of one decode step after the session's current tokens: ms and weight bytes read. */
export async function profileDecodeStep(
  session: GemmaSession,
): Promise<Map<string, { ms: number; bytes: number }>> {
  session.reset();
  session.append([2, 651, 6037, 576]);
  await session.argmax();
  await session.profileDecodeStep(6081); // warm-up: pipelines for single-row shapes
  const profile = await session.profileDecodeStep(603);
  return new Map([...profile].map(([label, p]) => [label, { ms: p.ms, bytes: p.weightBytes }]));
}

/**
 * Bytes per second of copying a 256 MiB array in memory (TypedArray.set: a memcpy, which reads
 * each byte once and writes it once), best of 5. A plain read alone is somewhat faster.
 */
export function memoryReadBandwidth(): number {
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

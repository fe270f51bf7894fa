// Log-probabilities of given tokens under rows of logits, with a greedy flag: what scoring a
// continuation needs (eval), without reading vocabulary-wide logits back to the CPU.

import { type Binding, GpuBatch, Uniforms } from "./gpu.ts";
import logprobSource from "./token_logprob.wgsl" with { type: "text" };
import sumSource from "./workgroup_sum.wgsl" with { type: "text" };

const source = sumSource + logprobSource;

export interface TokenLogprobArgs {
  /** (rows, stride) f32 logits. */
  logits: Binding;
  /** (rows) u32 target token ids, each < vocab. */
  targets: Binding;
  /** (rows, 2) f32: log P(target), and 1 if the target is the argmax (lowest index on ties). */
  out: GPUBuffer;
  rows: number;
  vocab: number;
  /** Floats between rows of `logits` (default vocab). */
  stride?: number;
}

export function tokenLogprob(batch: GpuBatch, args: TokenLogprobArgs): void {
  const uniforms = new Uniforms().u32(args.rows).u32(args.vocab).u32(args.stride ?? args.vocab);
  batch.dispatch(batch.gpu.pipeline(source), uniforms, [
    args.logits,
    args.targets,
    args.out,
  ], [args.rows]);
}

/** (rows, 2): log-softmax of each row at its target (in f64), and the greedy flag. */
export function tokenLogprobReference(
  logits: Float32Array,
  targets: Uint32Array,
  vocab: number,
): Float32Array {
  const rows = targets.length;
  const out = new Float32Array(rows * 2);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * vocab, (r + 1) * vocab);
    let best = 0;
    for (let j = 1; j < vocab; j++) if (row[j] > row[best]) best = j;
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(row[j] - row[best]);
    out[2 * r] = row[targets[r]] - row[best] - Math.log(sum);
    out[2 * r + 1] = best === targets[r] ? 1 : 0;
  }
  return out;
}

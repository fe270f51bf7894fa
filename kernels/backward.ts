// The training kernels in one place: every forward op's backward twin, the chunked
// cross-entropy of the tied head, and the optimizer. A training loop (core/train) imports from
// here; each file's header says what it computes, with shapes and layouts.

export {
  f32Matrix,
  matmulInputGrad,
  type MatmulInputGradArgs,
  matmulWeightGrad,
  type MatmulWeightGradArgs,
  transposeMatrix,
} from "./matmul_backward.ts";
export {
  createCrossEntropyWorkspace,
  crossEntropy,
  type CrossEntropyArgs,
  type CrossEntropyOptions,
  type CrossEntropyWorkspace,
} from "./cross_entropy.ts";
export { gatherRows, type GatherRowsArgs, rowsWithTargets } from "./gather_rows.ts";
export { rmsNormBackward, type RmsNormBackwardArgs } from "./rms_norm_backward.ts";
export { geluMulBackward, type GeluMulBackwardArgs } from "./gelu_mul_backward.ts";
export { softcapBackward, type SoftcapBackwardArgs } from "./softcap_backward.ts";
export { ropeBackward, type RopeBackwardArgs } from "./rope_backward.ts";
export {
  attentionBackward,
  type AttentionBackwardArgs,
  type AttentionShape,
} from "./attention_backward.ts";
export { gradNorm, type GradNormArgs } from "./grad_norm.ts";
export { adamw, type AdamwArgs, type AdamwOptions } from "./adamw.ts";

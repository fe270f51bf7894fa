// The public API of the engine: what cli/, safety/, examples/ and other programs import.

export { createGpuContext, type DType, GpuContext, GpuError } from "../kernels/gpu.ts";
export { ConfigError, type GemmaConfig, parameterCount, parseConfig } from "./config.ts";
export { CheckpointError } from "./safetensors.ts";
export {
  type Checkpoint,
  type CheckpointTensor,
  loadCheckpointTokenizer,
  openCheckpoint,
} from "./checkpoint.ts";
export {
  type GemmaTokenizer,
  loadTokenizer,
  StreamingDecoder,
  TokenizerError,
} from "./tokenizer.ts";
export { type ChatMessage, ChatTemplateError, renderChat } from "./chat_template.ts";
export { Gemma, gpuWeightBytes, loadGemma, type LoadOptions } from "./weights.ts";
export { ContextError, type DecodeOptions, GemmaSession, type SessionOptions } from "./session.ts";
export type { TokenPick } from "./gemma.ts";
export {
  type BatchOptions,
  defaultParallel,
  SequenceBatch,
  type StepRow,
  type StepTokens,
} from "./batch.ts";
export { Lookahead, StepQueue } from "./lookahead.ts";
export { maxSequences } from "./forward_state.ts";
export type { SampleDraw } from "../kernels/pick_token.ts";
export {
  argmaxOf,
  DEFAULT_SAMPLING,
  Sampler,
  SamplingError,
  type SamplingOptions,
  validateSampling,
} from "./sampler.ts";
export {
  type FinishReason,
  generate,
  type GenerateOptions,
  type GenerateResult,
  type Timings,
} from "./generate.ts";
export { generateMany, type GenerateManyOptions, type GenerationRequest } from "./generate_many.ts";
export {
  DEFAULT_MODEL_NAME,
  findKnownModel,
  KNOWN_MODELS,
  type KnownModel,
  looksLikeModelName,
} from "./formats/known_models.ts";
export { type CacheState, checkCachedModel, modelCacheDir } from "./formats/model_cache.ts";
export { ensureModel, PullError, pullModel, type PullOptions } from "./formats/pull.ts";
export { ZipError } from "./formats/zip.ts";
export {
  checkLoraSettings,
  downloadLora,
  type GpuLora,
  initLora,
  LORA_MODULES,
  LoraError,
  type LoraModule,
  type LoraSettings,
  type LoraTensors,
  mergeLora,
  mulberry32,
  parseLoraModules,
  uploadLora,
} from "./lora.ts";
export { readPeftAdapter, writePeftAdapter } from "./formats/peft.ts";
export { writeLoraGguf } from "./formats/lora_gguf.ts";
export {
  LoraTrainer,
  type OptimizerOptions,
  packedRows,
  type StepResult,
  TrainError,
  type TrainExample,
} from "./train/trainer.ts";
export { batches, DataError, type Dataset, loadDataset } from "./train/data.ts";
export {
  loadTrainingState,
  saveTrainingState,
  TRAINING_STATE,
  type TrainingProgress,
} from "./train/checkpoint.ts";

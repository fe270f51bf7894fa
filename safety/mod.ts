// The public API of the safety layer: PII detection and anonymization, policy classifiers
// (ShieldGemma's method), agile classifiers (LoRA on labelled texts), guarded generation and the memorization probe. Uses core/mod.ts only
// (DESIGN.md §1).

export {
  DEFAULT_PHONE_REGIONS,
  type DetectOptions,
  detectPii,
  parsePiiTypes,
  PII_TYPES,
  PiiError,
  type PiiHit,
  type PiiType,
  resolveOverlaps,
} from "./pii.ts";
export { anonymize, hashTag, maskValue, type PiiOperator, replaceTag } from "./pii_operators.ts";
export {
  cardBrand,
  creditCardValid,
  emailValid,
  ibanValid,
  ipv4Valid,
  ipv6Valid,
  luhnValid,
  ssnValid,
} from "./pii_validators.ts";
export {
  HARM_POLICIES,
  harmDefinition,
  parsePolicies,
  type Policy,
  PolicyError,
  policyKey,
  renderPolicyPrompt,
  selectPolicies,
  type UseCase,
} from "./policies.ts";
export {
  ClassifierError,
  classify,
  type ClassifyOptions,
  commonPrefixLength,
  policyPromptIds,
  type PolicyScore,
  pYesFromLogits,
  yesNoIds,
} from "./classifier.ts";
export {
  AGILE_CONFIG,
  AGILE_FORMAT_VERSION,
  AGILE_INSTRUCTIONS,
  AGILE_SEPARATOR,
  AgileClassifier,
  type AgileClassifierConfig,
  type AgileConfig,
  AgileError,
  agileExample,
  agilePrompt,
  agilePromptIds,
  type AgileScore,
  checkThreshold,
  type LabelledText,
  labelProbabilities,
  labelTokenIds,
  parseLabelledJsonl,
  parseLabels,
  readAgileConfig,
  writeAgileConfig,
} from "./agile.ts";
export { type BinaryMetrics, binaryMetrics, rocAuc } from "./agile_metrics.ts";
export {
  type AgileTrainOptions,
  type AgileTrainReport,
  holdOut,
  mixedBatches,
  trainAgileClassifier,
} from "./agile_train.ts";
export {
  Guard,
  type GuardCheck,
  type GuardConfig,
  guardedGenerate,
  type GuardedResult,
  SentenceSplitter,
} from "./guard.ts";
export { CorpusError, type CorpusFile, readCorpus } from "./corpus.ts";
export {
  MemorizationError,
  type MemorizationOptions,
  type PiiScanner,
  probeMemorization,
  type ProbeResult,
  type WindowResult,
} from "./memorization.ts";
export {
  formatMemorizationReport,
  type MemorizationReport,
  memorizationReport,
} from "./memorization_report.ts";
export { rateSummary, tokenEditDistance, wilsonInterval } from "./memorization_score.ts";

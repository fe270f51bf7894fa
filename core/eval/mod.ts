// Evaluation's public API: tasks, requests, metrics, the runner and lm-eval-layout results.

export { type DataRecord, EvalDataError, readRecords, type SourcedRecord } from "./data.ts";
export {
  aggregate,
  type AggregatedMetric,
  type MetricName,
  multipleChoiceMetrics,
} from "./metrics.ts";
export {
  encodeRequest,
  type LoglikelihoodRequest,
  type LoglikelihoodScore,
  scoreRequests,
  scoreTokenRequests,
  type TokenRequest,
} from "./requests.ts";
export {
  type AnyTaskResult,
  resultsJson,
  resultsTable,
  type RunInfo,
  sampleLines,
} from "./results.ts";
export { type FewshotOptions, runTask, type RunTaskOptions, type TaskResult } from "./runner.ts";
export { findTask, type MultipleChoiceTask, TASKS } from "./tasks/mod.ts";
export {
  type AnyTask,
  findAnyTask,
  isMultipleChoice,
  OTHER_TASKS,
  type OtherTask,
} from "./tasks/mod.ts";
export { type KindTaskResult, type RunKindOptions, runKindTask } from "./run_kinds.ts";
export { applyFilters, exactMatch, type FilterStep, regexFilter } from "./filters.ts";

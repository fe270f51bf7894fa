// Evaluation's public API: tasks, requests, metrics, the runner and lm-eval-layout results.

export {
  type DataRecord,
  EvalDataError,
  isSavedSplit,
  readRecords,
  type SourcedRecord,
} from "./data.ts";
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
export {
  type AnyTask,
  findAnyTask,
  findTask,
  GROUPS,
  isMultipleChoice,
  MMLU_SUBJECTS,
  type MultipleChoiceTask,
  OTHER_TASKS,
  type OtherTask,
  type TaskGroup,
  TASKS,
} from "./tasks/mod.ts";
export { aggregateGroups, type GroupResult } from "./groups.ts";
export { ScoreCache } from "./cache.ts";
export { readTaskFile, type TaskFile } from "./tasks/custom.ts";
export { type OlmoRequests, readOlmoRequests, runOlmoRequests } from "./olmo.ts";
export { type KindTaskResult, type RunKindOptions, runKindTask } from "./run_kinds.ts";
export { applyFilters, exactMatch, type FilterStep, regexFilter } from "./filters.ts";

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
export { resultsJson, resultsTable, type RunInfo, sampleLines } from "./results.ts";
export { type FewshotOptions, runTask, type RunTaskOptions, type TaskResult } from "./runner.ts";
export {
  findTask,
  GROUPS,
  MMLU_SUBJECTS,
  type MultipleChoiceTask,
  type TaskGroup,
  TASKS,
} from "./tasks/mod.ts";
export { aggregateGroups, type GroupResult } from "./groups.ts";
export { ScoreCache } from "./cache.ts";
export { readTaskFile, type TaskFile } from "./tasks/custom.ts";
export { type OlmoRequests, readOlmoRequests, runOlmoRequests } from "./olmo.ts";

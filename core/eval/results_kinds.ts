// The lm-eval results fields of the tasks that are not multiple choice (run_kinds.ts), merged into
// results.ts's JSON, table and sample lines beside the multiple-choice tasks'.

import type { KindTaskResult } from "./run_kinds.ts";
import { FEWSHOT_DELIMITER, TARGET_DELIMITER } from "./tasks/task.ts";

export function isKindResult(result: object): result is KindTaskResult {
  return "rows" in result && "samples" in result;
}

/** results.<task>: "<metric>,<filter>" and "<metric>_stderr,<filter>" ("N/A" without one). */
export function kindResults(t: KindTaskResult): Record<string, unknown> {
  const out: Record<string, unknown> = { alias: t.task.name };
  for (const r of t.rows) {
    out[`${r.metric},${r.filter}`] = r.value;
    out[`${r.metric}_stderr,${r.filter}`] = r.stderr ?? "N/A";
  }
  return out;
}

/** configs.<task>, as lm-eval lists a task's YAML settings. */
export function kindConfig(t: KindTaskResult): Record<string, unknown> {
  const metrics = new Map(t.rows.map((r) => [r.metric, r]));
  return {
    task: t.task.name,
    dataset_path: t.task.dataset,
    ...(t.task.datasetName ? { dataset_name: t.task.datasetName } : {}),
    test_split: t.task.split,
    ...(t.numFewshot > 0 ? { fewshot_split: t.task.fewshotSplit } : {}),
    target_delimiter: TARGET_DELIMITER,
    fewshot_delimiter: FEWSHOT_DELIMITER,
    num_fewshot: t.numFewshot,
    metric_list: [...metrics.values()].map((r) => ({
      metric: r.metric,
      aggregation: r.aggregation,
      higher_is_better: r.higherIsBetter,
    })),
    ...t.config,
    metadata: { version: t.task.version },
  };
}

export function kindHigherIsBetter(t: KindTaskResult): Record<string, boolean> {
  return Object.fromEntries(t.rows.map((r) => [r.metric, r.higherIsBetter]));
}

/** The table's rows of one task: name, version, filter, n-shot, metric, arrow, value, ±, stderr. */
export function kindTableRows(t: KindTaskResult): string[][] {
  return t.rows.map((r, i) => [
    i === 0 ? t.task.name : "",
    i === 0 ? String(t.task.version) : "",
    r.filter,
    String(t.numFewshot),
    r.metric,
    r.higherIsBetter ? "↑" : "↓",
    r.value.toFixed(4),
    "±",
    r.stderr === undefined ? "N/A" : r.stderr.toFixed(4),
  ]);
}

export function kindSampleLines(t: KindTaskResult): string[] {
  return t.samples.map((s) => JSON.stringify({ task: t.task.name, ...s }));
}

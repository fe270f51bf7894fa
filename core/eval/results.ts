// Results in lm-eval's layout (the JSON its --output_path writes, and its markdown table), so that
// tools reading lm-eval results read ours: results.<task>["acc,none"], ["acc_stderr,none"], …;
// a stderr lm-eval cannot compute (one document) is the string "N/A" there too.

import type { TaskResult } from "./runner.ts";
import {
  isKindResult,
  kindConfig,
  kindHigherIsBetter,
  kindResults,
  kindSampleLines,
  kindTableRows,
} from "./results_kinds.ts";
import type { KindTaskResult } from "./run_kinds.ts";
import { docRequests, FEWSHOT_DELIMITER, TARGET_DELIMITER } from "./tasks/mod.ts";

export interface RunInfo {
  /** What was evaluated: the model's path or name. */
  model: string;
  limit?: number;
  maxLength: number;
  totalSeconds: number;
}

const FILTER = "none";

/** A task's result: multiple choice (runner.ts) or another kind (run_kinds.ts). */
export type AnyTaskResult = TaskResult | KindTaskResult;

export function resultsJson(all: AnyTaskResult[], info: RunInfo): Record<string, unknown> {
  const tasks = all.filter((t): t is TaskResult => !isKindResult(t));
  const others = all.filter(isKindResult);
  const byTask = <T>(f: (t: TaskResult) => T, g: (t: KindTaskResult) => T) =>
    Object.fromEntries([
      ...tasks.map((t) => [t.task.name, f(t)]),
      ...others.map((t) => [t.task.name, g(t)]),
    ]);
  return {
    results: byTask((t) => {
      const out: Record<string, unknown> = { alias: t.task.name };
      for (const [name, m] of t.metrics) {
        out[`${name},${FILTER}`] = m.value;
        out[`${name}_stderr,${FILTER}`] = m.stderr ?? "N/A";
      }
      return out;
    }, kindResults),
    group_subtasks: byTask(() => [], () => []),
    configs: byTask((t) => ({
      task: t.task.name,
      dataset_path: t.task.dataset,
      ...(t.task.datasetName ? { dataset_name: t.task.datasetName } : {}),
      test_split: t.task.split,
      output_type: "multiple_choice",
      target_delimiter: TARGET_DELIMITER,
      fewshot_delimiter: FEWSHOT_DELIMITER,
      ...(t.numFewshot > 0 ? { training_split: t.task.fewshotSplit } : {}),
      num_fewshot: t.numFewshot,
      metric_list: t.task.metrics.map((metric) => ({
        metric,
        aggregation: "mean",
        higher_is_better: true,
      })),
      metadata: { version: t.task.version },
    }), kindConfig),
    versions: byTask((t) => t.task.version, (t) => t.task.version),
    "n-shot": byTask((t) => t.numFewshot, (t) => t.numFewshot),
    higher_is_better: byTask(
      (t) => Object.fromEntries(t.task.metrics.map((m) => [m, true])),
      kindHigherIsBetter,
    ),
    "n-samples": byTask(
      (t) => ({ original: t.available, effective: t.docs.length }),
      (t) => ({ original: t.available, effective: t.evaluated }),
    ),
    // Ours, beside lm-eval's fields: requests scored and how many were truncated to fit.
    requests: byTask(requestCounts, requestCounts),
    config: {
      model: "gemma",
      model_args: info.model,
      limit: info.limit ?? null,
      max_length: info.maxLength,
    },
    date: Date.now() / 1000,
    total_evaluation_time_seconds: String(info.totalSeconds),
  };
}

function requestCounts(t: AnyTaskResult) {
  return { total: t.requests, truncated: t.truncatedRequests, seconds: t.seconds };
}

/** lm-eval's summary table (markdown): one row per metric, value and stderr to 4 places. */
export function resultsTable(all: AnyTaskResult[]): string {
  const tasks = all.filter((t): t is TaskResult => !isKindResult(t));
  const header = ["Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr"];
  const right = [false, true, false, true, false, false, true, false, true];
  const rows: string[][] = [];
  for (const t of tasks) {
    let first = true;
    for (const [name, m] of t.metrics) {
      rows.push([
        first ? t.task.name : "",
        first ? String(t.task.version) : "",
        FILTER,
        String(t.numFewshot),
        name,
        "↑",
        m.value.toFixed(4),
        "±",
        m.stderr === undefined ? "N/A" : m.stderr.toFixed(4),
      ]);
      first = false;
    }
  }
  for (const t of all.filter(isKindResult)) rows.push(...kindTableRows(t));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    `|${cells.map((c, i) => (right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join("|")}|`;
  const rule = `|${
    widths.map((w, i) => "-".repeat(right[i] ? w - 1 : w) + (right[i] ? ":" : "")).join("|")
  }|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/**
 * One JSON line per document, as lm-eval's --log_samples: the task, doc_id, target (gold index),
 * arguments ([context, continuation] per choice), resps ([log-likelihood, is_greedy] per choice)
 * and the document's metrics.
 */
export function sampleLines(all: AnyTaskResult[]): string[] {
  const tasks = all.filter((t): t is TaskResult => !isKindResult(t));
  const lines = tasks.flatMap((t) =>
    t.docs.map((d, i) =>
      JSON.stringify({
        task: t.task.name,
        doc_id: i,
        target: d.doc.gold,
        arguments: docRequests(d.doc, d.examples).map((r) => [r.context, r.continuation]),
        resps: d.scores.map((s) => [s.logprob, s.isGreedy]),
        ...d.metrics,
      })
    )
  );
  return [...lines, ...all.filter(isKindResult).flatMap(kindSampleLines)];
}

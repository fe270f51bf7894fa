// Results in lm-eval's layout (the JSON its --output_path writes, and its markdown table), so that
// tools reading lm-eval results read ours: results.<task>["acc,none"], ["acc_stderr,none"], …;
// a stderr lm-eval cannot compute (one document) is the string "N/A" there too.

import type { TaskResult } from "./runner.ts";
import type { GroupResult } from "./groups.ts";
import { type AggregatedMetric, LOWER_IS_BETTER, type MetricName } from "./metrics.ts";
import {
  isKindResult,
  kindConfig,
  kindHigherIsBetter,
  kindResults,
  kindSampleLines,
  kindTableRows,
} from "./results_kinds.ts";
import type { KindTaskResult } from "./run_kinds.ts";
import { FEWSHOT_DELIMITER, TARGET_DELIMITER } from "./tasks/mod.ts";

export interface RunInfo {
  /** What was evaluated: the model's path or name. */
  model: string;
  limit?: number;
  maxLength: number;
  totalSeconds: number;
}

const FILTER = "none";

/** A task's or group's metrics as lm-eval's "acc,none" / "acc_stderr,none" entries. */
function metricEntries(alias: string, metrics: Map<MetricName, AggregatedMetric>) {
  const out: Record<string, unknown> = { alias };
  for (const [name, m] of metrics) {
    out[`${name},${FILTER}`] = m.value;
    out[`${name}_stderr,${FILTER}`] = m.stderr ?? "N/A";
  }
  return out;
}

/** A task's result: multiple choice (runner.ts) or another kind (run_kinds.ts). */
export type AnyTaskResult = TaskResult | KindTaskResult;

export function resultsJson(
  all: AnyTaskResult[],
  info: RunInfo,
  groups: GroupResult[] = [],
): Record<string, unknown> {
  const tasks = all.filter((t): t is TaskResult => !isKindResult(t));
  const others = all.filter(isKindResult);
  const byTask = <T>(f: (t: TaskResult) => T, g: (t: KindTaskResult) => T) =>
    Object.fromEntries([
      ...tasks.map((t) => [t.task.name, f(t)]),
      ...others.map((t) => [t.task.name, g(t)]),
    ]);
  const byGroup = <T>(f: (g: GroupResult) => T) =>
    Object.fromEntries(groups.map((g) => [g.group.name, f(g)]));
  return {
    results: {
      ...byTask((t) => metricEntries(t.task.name, t.metrics), kindResults),
      ...byGroup((g) => metricEntries(g.group.alias, g.metrics)),
    },
    ...(groups.length > 0
      ? { groups: byGroup((g) => metricEntries(g.group.alias, g.metrics)) }
      : {}),
    group_subtasks: {
      ...byGroup((g) => g.members),
      ...Object.fromEntries(
        all.filter((t) => !groups.some((g) => g.members.includes(t.task.name)))
          .map((t) => [t.task.name, []]),
      ),
    },
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
        higher_is_better: !LOWER_IS_BETTER.has(metric),
      })),
      metadata: { version: t.task.version },
    }), kindConfig),
    versions: {
      ...byTask((t) => t.task.version, (t) => t.task.version),
      ...byGroup((g) => g.group.version),
    },
    "n-shot": byTask((t) => t.numFewshot, (t) => t.numFewshot),
    higher_is_better: byTask(
      (t) => Object.fromEntries(t.task.metrics.map((m) => [m, !LOWER_IS_BETTER.has(m)])),
      kindHigherIsBetter,
    ),
    "n-samples": byTask(
      (t) => ({ original: t.available, effective: t.docs.length }),
      (t) => ({ original: t.available, effective: t.evaluated }),
    ),
    // Ours, beside lm-eval's fields: requests scored, how many were truncated to fit, and how
    // many came from --cache.
    requests: byTask(
      (t) => ({
        total: t.requests,
        truncated: t.truncatedRequests,
        cached: t.cachedRequests,
        seconds: t.seconds,
      }),
      (t) => ({
        total: t.requests,
        truncated: t.truncatedRequests,
        ...(t.cachedRequests !== undefined ? { cached: t.cachedRequests } : {}),
        seconds: t.seconds,
      }),
    ),
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

/**
 * lm-eval's summary table (markdown): one row per metric, value and stderr to 4 places; groups,
 * if any, in a second table as lm-eval prints them.
 */
export function resultsTable(all: AnyTaskResult[], groups: GroupResult[] = []): string {
  const tasks = all.filter((t): t is TaskResult => !isKindResult(t));
  const taskRows = tasks.map((t) => ({
    name: t.task.name,
    version: t.task.version,
    shots: String(t.numFewshot),
    metrics: t.metrics,
  }));
  const groupRows = groups.map((g) => ({
    name: g.group.name,
    version: g.group.version,
    shots: "",
    metrics: g.metrics,
  }));
  const table = markdownTable(taskRows, "Tasks", all.filter(isKindResult).flatMap(kindTableRows));
  return groups.length > 0 ? `${table}\n\n${markdownTable(groupRows, "Groups")}` : table;
}

function markdownTable(
  entries: {
    name: string;
    version: number;
    shots: string;
    metrics: Map<MetricName, AggregatedMetric>;
  }[],
  title: string,
  /** Rows already laid out (tasks of other kinds, results_kinds.ts). */
  extraRows: string[][] = [],
): string {
  const header = [title, "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr"];
  const right = [false, true, false, true, false, false, true, false, true];
  const rows: string[][] = [];
  for (const t of entries) {
    let first = true;
    for (const [name, m] of t.metrics) {
      rows.push([
        first ? t.name : "",
        first ? String(t.version) : "",
        FILTER,
        t.shots,
        name,
        LOWER_IS_BETTER.has(name) ? "↓" : "↑",
        m.value.toFixed(4),
        "±",
        m.stderr === undefined ? "N/A" : m.stderr.toFixed(4),
      ]);
      first = false;
    }
  }
  rows.push(...extraRows);
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
        arguments: d.requests.map((r) => [r.context, r.continuation]),
        resps: d.scores.map((s) => [s.logprob, s.isGreedy]),
        ...d.metrics,
      })
    )
  );
  return [...lines, ...all.filter(isKindResult).flatMap(kindSampleLines)];
}

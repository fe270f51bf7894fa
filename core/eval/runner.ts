// Runs a multiple-choice task: records → documents → log-likelihood requests (every choice of a
// document shares its context, so it is prefilled once) → per-document metrics → aggregates.

import type { GemmaSession } from "../session.ts";
import type { GemmaTokenizer } from "../tokenizer.ts";
import type { SourcedRecord } from "./data.ts";
import {
  aggregate,
  type AggregatedMetric,
  type DocMetrics,
  type MetricName,
  multipleChoiceMetrics,
} from "./metrics.ts";
import { type LoglikelihoodScore, scoreRequests } from "./requests.ts";
import { docRequests, type MultipleChoiceDoc, type MultipleChoiceTask } from "./tasks/mod.ts";

export interface RunTaskOptions {
  /** Only the first `limit` documents (lm-eval's --limit). */
  limit?: number;
  /** lm-eval's max_length (see ScoreOptions). */
  maxLength?: number;
  /** Called after each scored request with (requests done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface ScoredDoc {
  doc: MultipleChoiceDoc;
  scores: LoglikelihoodScore[];
  metrics: DocMetrics;
}

export interface TaskResult {
  task: MultipleChoiceTask;
  docs: ScoredDoc[];
  metrics: Map<MetricName, AggregatedMetric>;
  /** Documents in the file (before --limit). */
  available: number;
  requests: number;
  /** Requests cut from the left to fit the context. */
  truncatedRequests: number;
  seconds: number;
}

/** Parses every record first (so a bad record fails before any scoring), then scores. */
export async function runTask(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  task: MultipleChoiceTask,
  records: SourcedRecord[],
  options: RunTaskOptions = {},
): Promise<TaskResult> {
  const start = performance.now();
  const docs = records.map((r) => task.doc(r)).slice(0, options.limit ?? records.length);
  const requests = docs.flatMap(docRequests);
  const scores = await scoreRequests(session, tokenizer, requests, {
    maxLength: options.maxLength,
    onProgress: options.onProgress,
  });
  const scored: ScoredDoc[] = [];
  let next = 0;
  for (const doc of docs) {
    const own = scores.slice(next, next += doc.choices.length);
    const lls = own.map((s) => s.logprob);
    scored.push({
      doc,
      scores: own,
      metrics: multipleChoiceMetrics(lls, doc.choices, doc.gold, task.metrics),
    });
  }
  return {
    task,
    docs: scored,
    metrics: aggregate(scored.map((d) => d.metrics)),
    available: records.length,
    requests: requests.length,
    truncatedRequests: scores.filter((s) => s.truncated > 0).length,
    seconds: (performance.now() - start) / 1000,
  };
}

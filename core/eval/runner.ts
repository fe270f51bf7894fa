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
import { PythonRandom } from "./python_random.ts";
import {
  docRequests,
  fewshotExample,
  type MultipleChoiceDoc,
  type MultipleChoiceTask,
} from "./tasks/mod.ts";

export interface RunTaskOptions {
  /** Only the first `limit` documents (lm-eval's --limit). */
  limit?: number;
  /** Few-shot examples before each prompt (lm-eval's --num_fewshot; default none). */
  fewshot?: FewshotOptions;
  /** lm-eval's max_length (see ScoreOptions). */
  maxLength?: number;
  /** Called after each scored request with (requests done, total). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * lm-eval's few-shot drawing: one `random.Random(seed)` per task (its fewshot_random_seed, 1234),
 * and for each evaluated document in order, `sample(fewshot documents, count)`; the examples are
 * joined by fewshotExample. (lm-eval would leave the document itself out where the few-shot split is
 * the evaluated split, which these tasks' defaults never are; so does not this.)
 */
export interface FewshotOptions {
  count: number;
  /** The task's few-shot split (its training split), in file order. */
  records: SourcedRecord[];
  seed?: number;
}

export interface ScoredDoc {
  doc: MultipleChoiceDoc;
  /** The few-shot examples before its prompt ("" zero-shot). */
  examples: string;
  scores: LoglikelihoodScore[];
  metrics: DocMetrics;
}

export interface TaskResult {
  task: MultipleChoiceTask;
  docs: ScoredDoc[];
  metrics: Map<MetricName, AggregatedMetric>;
  numFewshot: number;
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
  const examples = drawExamples(task, docs.length, options.fewshot);
  const requests = docs.flatMap((doc, i) => docRequests(doc, examples[i]));
  const scores = await scoreRequests(session, tokenizer, requests, {
    maxLength: options.maxLength,
    onProgress: options.onProgress,
  });
  const scored: ScoredDoc[] = [];
  let next = 0;
  for (const [i, doc] of docs.entries()) {
    const own = scores.slice(next, next += doc.choices.length);
    const lls = own.map((s) => s.logprob);
    scored.push({
      doc,
      examples: examples[i],
      scores: own,
      metrics: multipleChoiceMetrics(lls, doc.choices, doc.gold, task.metrics),
    });
  }
  return {
    task,
    docs: scored,
    metrics: aggregate(scored.map((d) => d.metrics)),
    numFewshot: options.fewshot?.count ?? 0,
    available: records.length,
    requests: requests.length,
    truncatedRequests: scores.filter((s) => s.truncated > 0).length,
    seconds: (performance.now() - start) / 1000,
  };
}

/** Each document's few-shot prefix, drawn in document order as lm-eval draws it. */
function drawExamples(
  task: MultipleChoiceTask,
  count: number,
  fewshot: FewshotOptions | undefined,
): string[] {
  if (!fewshot || fewshot.count === 0) return new Array(count).fill("");
  const pool = fewshot.records.map((r) => task.doc(r));
  if (fewshot.count > pool.length) {
    throw new RangeError(
      `${task.name}: ${fewshot.count} few-shot examples asked for, the few-shot split has ${pool.length}`,
    );
  }
  const random = new PythonRandom(fewshot.seed ?? 1234);
  return Array.from(
    { length: count },
    () => random.sample(pool, fewshot.count).map(fewshotExample).join(""),
  );
}

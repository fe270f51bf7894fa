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
import {
  type LoglikelihoodRequest,
  type LoglikelihoodScore,
  type PrefillCounts,
  scoreRequests,
} from "./requests.ts";
import type { ScoreCache } from "./cache.ts";
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
  /** Scores found here are not computed again; new ones are added as they come. */
  cache?: ScoreCache;
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
  /** The description and few-shot examples before its prompt ("" zero-shot). */
  examples: string;
  /** Its requests, in lm-eval's order (with acc_mutual_info, the unconditional ones last). */
  requests: LoglikelihoodRequest[];
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
  /** Requests whose scores came from the cache. */
  cachedRequests: number;
  /** Tokens run through the model, and context tokens kept from the context before. */
  prefill: PrefillCounts;
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
  const kept = task.keeps ? records.filter((r) => task.keeps!(r)) : records;
  const docs = kept.map((r) => task.doc(r)).slice(0, options.limit ?? kept.length);
  const examples = drawExamples(task, docs.length, options.fewshot);
  const mutualInfo = task.metrics.includes("acc_mutual_info");
  const perDoc = docs.map((doc, i) => [
    ...docRequests(doc, examples[i]),
    // lm-eval's unconditional requests for acc_mutual_info: each choice after <bos> alone.
    ...(mutualInfo ? doc.choices.map((c) => ({ context: "", continuation: ` ${c}` })) : []),
  ]);
  const requests = perDoc.flat();
  const scores = await scoreCached(session, tokenizer, requests, options);
  const scored: ScoredDoc[] = [];
  let next = 0;
  for (const [i, doc] of docs.entries()) {
    const own = scores.slice(next, next += perDoc[i].length);
    const lls = own.map((s) => s.logprob);
    const n = doc.choices.length;
    scored.push({
      doc,
      examples: examples[i],
      requests: perDoc[i],
      scores: own,
      metrics: task.scoreDoc?.(lls, doc) ??
        multipleChoiceMetrics(lls.slice(0, n), doc.choices, doc.gold, task.metrics, lls.slice(n)),
    });
  }
  return {
    task,
    docs: scored,
    metrics: aggregate(scored.map((d) => d.metrics)),
    numFewshot: task.fixedFewshot ?? options.fewshot?.count ?? 0,
    available: kept.length,
    requests: requests.length,
    truncatedRequests: scores.filter((s) => s.truncated > 0).length,
    cachedRequests: scores.cached,
    prefill: scores.prefill,
    seconds: (performance.now() - start) / 1000,
  };
}

/** Scores the requests the cache does not hold, adding each to it as soon as it is scored. */
export async function scoreCached(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  requests: LoglikelihoodRequest[],
  options: RunTaskOptions,
): Promise<LoglikelihoodScore[] & { cached: number; prefill: PrefillCounts }> {
  const { cache } = options;
  const scores: (LoglikelihoodScore | undefined)[] = requests.map((r) => cache?.get(r));
  const missing = requests.flatMap((_, i) => scores[i] === undefined ? [i] : []);
  const cached = requests.length - missing.length;
  const prefill = { prefilled: 0, reused: 0 };
  const fresh = await scoreRequests(session, tokenizer, missing.map((i) => requests[i]), {
    maxLength: options.maxLength,
    counts: prefill,
    onProgress: options.onProgress &&
      ((done: number) => options.onProgress!(cached + done, requests.length)),
    onScore: cache &&
      ((j: number, score: LoglikelihoodScore) => cache.put(requests[missing[j]], score)),
  });
  missing.forEach((i, j) => scores[i] = fresh[j]);
  return Object.assign(scores as LoglikelihoodScore[], { cached, prefill });
}

/** Each document's few-shot prefix, drawn in document order as lm-eval draws it. */
function drawExamples(
  task: MultipleChoiceTask,
  count: number,
  fewshot: FewshotOptions | undefined,
): string[] {
  const description = task.description ?? "";
  if (task.fixedFewshot !== undefined || !fewshot || fewshot.count === 0) {
    return new Array(count).fill(description);
  }
  const records = task.keeps ? fewshot.records.filter((r) => task.keeps!(r)) : fewshot.records;
  const pool = records.map((r) => task.doc(r));
  if (fewshot.count > pool.length) {
    throw new RangeError(
      `${task.name}: ${fewshot.count} few-shot examples asked for, the few-shot split has ${pool.length}`,
    );
  }
  if (task.fewshotFirstN) {
    const examples = description + pool.slice(0, fewshot.count).map(fewshotExample).join("");
    return new Array(count).fill(examples);
  }
  const random = new PythonRandom(fewshot.seed ?? 1234);
  return Array.from(
    { length: count },
    () => description + random.sample(pool, fewshot.count).map(fewshotExample).join(""),
  );
}

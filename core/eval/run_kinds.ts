// Runs the tasks that are not multiple choice (tasks/kinds.ts): records → documents → requests of
// the task's kind → per-document values → lm-eval's aggregations, as metric rows (one per metric
// and filter) and one log line per document (lm-eval's --log_samples fields).

import type { GemmaSession } from "../session.ts";
import type { GemmaTokenizer } from "../tokenizer.ts";
import type { SourcedRecord } from "./data.ts";
import { applyFilters, exactMatch } from "./filters.ts";
import type { ScoreCache } from "./cache.ts";
import {
  DEFAULT_MAX_GEN_TOKS,
  generateUntil,
  generateUntilBatched,
  type Generation,
} from "./generate_until.ts";
import { mean, meanStderr } from "./metrics.ts";
import {
  bitsPerByte,
  countBytes,
  countWords,
  perplexity,
  perplexityStderr,
  weightedPerplexity,
} from "./perplexity.ts";
import { PythonRandom } from "./python_random.ts";
import { scoreRequests } from "./requests.ts";
import { scoreRolling } from "./rolling.ts";
import type {
  GenerationDoc,
  GenerationTask,
  LoglikelihoodTask,
  OtherTask,
  RollingTask,
} from "./tasks/kinds.ts";
import { FEWSHOT_DELIMITER, TARGET_DELIMITER } from "./tasks/task.ts";

/** One line of lm-eval's table: a metric under a filter ("none" when unfiltered). */
export interface MetricRow {
  metric: string;
  filter: string;
  value: number;
  /** Undefined where lm-eval writes "N/A". */
  stderr: number | undefined;
  higherIsBetter: boolean;
  /** lm-eval's aggregation name, for the results' configs. */
  aggregation: string;
}

export interface KindTaskResult {
  task: OtherTask;
  rows: MetricRow[];
  numFewshot: number;
  /** Documents in the file (before --limit), and scored. */
  available: number;
  evaluated: number;
  requests: number;
  /** Requests whose context was cut from the left to fit. */
  truncatedRequests: number;
  /** generate_until: answers that came from the cache. */
  cachedRequests?: number;
  seconds: number;
  /** One object per document: lm-eval's --log_samples fields. */
  samples: Record<string, unknown>[];
  /** The settings lm-eval's results list in configs.<task>, beyond the common ones. */
  config: Record<string, unknown>;
}

export interface RunKindOptions {
  limit?: number;
  /** Few-shot examples (generate_until only) and the few-shot split's records. */
  fewshot?: { count: number; records: SourcedRecord[]; seed?: number };
  /** lm-eval's max_length (loglikelihood: the model input; generation: prompt + answer). */
  maxLength?: number;
  /** Token ids that end a generation. */
  stopTokenIds?: number[];
  /** Overrides the task's max_gen_toks (lm-eval's --gen_kwargs max_gen_toks=N). */
  maxGenToks?: number;
  /**
   * generate_until: requests decoded together (continuous batching; the same answers); 1 or
   * undefined: one at a time on the session.
   */
  parallel?: number;
  /** generate_until: answers found here are not generated again; new ones are added. */
  cache?: ScoreCache;
  onProgress?: (done: number, total: number) => void;
}

/** Runs a generate_until, loglikelihood_rolling or loglikelihood task. */
export async function runKindTask(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  task: OtherTask,
  records: SourcedRecord[],
  options: RunKindOptions = {},
): Promise<KindTaskResult> {
  const start = performance.now();
  const chosen = records.slice(0, options.limit ?? records.length);
  let result: Omit<KindTaskResult, "seconds" | "available" | "task">;
  if (task.kind === "generate_until") {
    result = await runGeneration(session, tokenizer, task, chosen, options);
  } else if (task.kind === "loglikelihood_rolling") {
    result = await runRolling(session, tokenizer, task, chosen, options);
  } else {
    result = await runLoglikelihood(session, tokenizer, task, chosen, options);
  }
  return {
    task,
    ...result,
    available: records.length,
    seconds: (performance.now() - start) / 1000,
  };
}

type KindOutcome = Omit<KindTaskResult, "seconds" | "available" | "task">;

function fewshotExample(doc: GenerationDoc): string {
  return doc.text + TARGET_DELIMITER + doc.target + FEWSHOT_DELIMITER;
}

async function runGeneration(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  task: GenerationTask,
  records: SourcedRecord[],
  options: RunKindOptions,
): Promise<KindOutcome> {
  const docs = records.map((r) => task.doc(r));
  const count = options.fewshot?.count ?? 0;
  let examples: string[] = new Array(docs.length).fill("");
  if (count > 0) {
    // lm-eval's sampler: random.Random(1234), sample(pool, n) per document in order.
    const pool = options.fewshot!.records.map((r) => task.doc(r));
    if (count > pool.length) {
      throw new RangeError(
        `${task.name}: ${count} few-shot examples asked for, the few-shot split has ${pool.length}`,
      );
    }
    const random = new PythonRandom(options.fewshot!.seed ?? 1234);
    examples = docs.map(() => random.sample(pool, count).map(fewshotExample).join(""));
  }
  const maxGenToks = options.maxGenToks ?? task.maxGenToks ?? DEFAULT_MAX_GEN_TOKS;
  // lm-eval adds the end token's text to the stop strings (handle_stop_sequences).
  const until = [...task.until, tokenizer.eosToken];
  const requests = docs.map((doc, i) => ({ context: examples[i] + doc.text, until, maxGenToks }));
  const { cache } = options;
  const generations: (Generation | undefined)[] = requests.map((r) => cache?.getGeneration(r));
  const missing = requests.flatMap((_, i) => generations[i] === undefined ? [i] : []);
  const cached = requests.length - missing.length;
  const generateOptions = {
    maxLength: options.maxLength ?? session.contextLength,
    stopTokenIds: options.stopTokenIds ?? [tokenizer.eosId],
    onProgress: options.onProgress &&
      ((done: number) => options.onProgress!(cached + done, requests.length)),
    onGeneration: cache &&
      ((j: number, g: Generation) => cache.putGeneration(requests[missing[j]], g)),
  };
  const toGenerate = missing.map((i) => requests[i]);
  const fresh = (options.parallel ?? 1) > 1
    ? await generateUntilBatched(session.model, tokenizer, toGenerate, {
      ...generateOptions,
      parallel: options.parallel!,
    })
    : await generateUntil(session, tokenizer, toGenerate, generateOptions);
  missing.forEach((i, j) => generations[i] = fresh[j]);
  const answered = generations as Generation[];
  const perFilter = task.filters.map((filter) => {
    const answers = answered.map((g) => applyFilters(g.text, filter.steps));
    const scores = answers.map((a, i) => exactMatch(a, docs[i].target, task.exactMatch));
    return { filter, answers, scores };
  });
  const samples = docs.map((doc, i) => ({
    doc_id: i,
    target: doc.target,
    arguments: [[requests[i].context, { until, max_gen_toks: maxGenToks }]],
    resps: [[answered[i].text]],
    filtered_resps: Object.fromEntries(perFilter.map((f) => [f.filter.name, f.answers[i]])),
    exact_match: Object.fromEntries(perFilter.map((f) => [f.filter.name, f.scores[i]])),
    truncated: answered[i].truncated,
  }));
  return {
    rows: perFilter.map(({ filter, scores }) => ({
      metric: "exact_match",
      filter: filter.name,
      value: mean(scores),
      stderr: meanStderr(scores),
      higherIsBetter: true,
      aggregation: "mean",
    })),
    numFewshot: count,
    evaluated: docs.length,
    requests: docs.length,
    truncatedRequests: answered.filter((g) => g.truncated > 0).length,
    cachedRequests: cached,
    samples,
    config: {
      output_type: "generate_until",
      generation_kwargs: { until, do_sample: false, temperature: 0.0, max_gen_toks: maxGenToks },
      filter_list: task.filters.map((f) => ({
        name: f.name,
        filter: f.steps.map((s) =>
          s.function === "regex"
            ? {
              function: "regex",
              regex_pattern: s.regexPattern,
              ...(s.groupSelect !== undefined ? { group_select: s.groupSelect } : {}),
            }
            : { function: s.function }
        ),
      })),
      metric_list: [{
        metric: "exact_match",
        aggregation: "mean",
        higher_is_better: true,
        ignore_case: task.exactMatch.ignoreCase ?? false,
        ignore_punctuation: task.exactMatch.ignorePunctuation ?? false,
        regexes_to_ignore: task.exactMatch.regexesToIgnore ?? [],
      }],
    },
  };
}

async function runRolling(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  task: RollingTask,
  records: SourcedRecord[],
  options: RunKindOptions,
): Promise<KindOutcome> {
  const docs = records.map((r) => task.doc(r));
  const scores = await scoreRolling(session, tokenizer, docs.map((d) => d.text), {
    maxLength: options.maxLength,
    onProgress: options.onProgress,
  });
  const lls = scores.map((s) => s.logprob);
  const words = docs.map((d) => countWords(d.counted));
  const bytes = docs.map((d) => countBytes(d.counted));
  const row = (metric: string, value: number, aggregation: string): MetricRow => ({
    metric,
    filter: "none",
    value,
    stderr: undefined,
    higherIsBetter: false,
    aggregation,
  });
  return {
    rows: [
      row("word_perplexity", weightedPerplexity(lls, words), "weighted_perplexity"),
      row("byte_perplexity", weightedPerplexity(lls, bytes), "weighted_perplexity"),
      row("bits_per_byte", bitsPerByte(lls, bytes), "bits_per_byte"),
    ],
    numFewshot: 0,
    evaluated: docs.length,
    requests: scores.reduce((n, s) => n + s.windows, 0),
    truncatedRequests: 0,
    samples: docs.map((doc, i) => ({
      doc_id: i,
      arguments: [[doc.text]],
      resps: [[lls[i]]],
      word_perplexity: [lls[i], words[i]],
      byte_perplexity: [lls[i], bytes[i]],
      bits_per_byte: [lls[i], bytes[i]],
      tokens: scores[i].tokens,
      windows: scores[i].windows,
    })),
    config: { output_type: "loglikelihood_rolling" },
  };
}

async function runLoglikelihood(
  session: GemmaSession,
  tokenizer: GemmaTokenizer,
  task: LoglikelihoodTask,
  records: SourcedRecord[],
  options: RunKindOptions,
): Promise<KindOutcome> {
  const docs = records.map((r) => task.doc(r));
  const scores = await scoreRequests(session, tokenizer, docs, {
    maxLength: options.maxLength,
    onProgress: options.onProgress,
  });
  const lls = scores.map((s) => s.logprob);
  const acc = scores.map((s) => (s.isGreedy ? 1 : 0));
  const rows: MetricRow[] = task.metrics.map((metric) =>
    metric === "perplexity"
      ? {
        metric,
        filter: "none",
        value: perplexity(lls),
        stderr: perplexityStderr(lls),
        higherIsBetter: false,
        aggregation: "perplexity",
      }
      : {
        metric,
        filter: "none",
        value: mean(acc),
        stderr: meanStderr(acc),
        higherIsBetter: true,
        aggregation: "mean",
      }
  );
  return {
    rows,
    numFewshot: 0,
    evaluated: docs.length,
    requests: docs.length,
    truncatedRequests: scores.filter((s) => s.truncated > 0).length,
    samples: docs.map((doc, i) => ({
      doc_id: i,
      target: doc.continuation,
      arguments: [[doc.context, doc.continuation]],
      resps: [[lls[i], scores[i].isGreedy]],
      perplexity: lls[i],
      acc: acc[i],
    })),
    config: { output_type: "loglikelihood" },
  };
}

// Multiple-choice metrics as lm-eval computes them, per document and aggregated over a task.
//
// - acc: the choice with the highest log-likelihood is the gold one (ties: the first, as
//   numpy's argmax).
// - acc_norm: the same over log-likelihood ÷ the choice's length in characters, where the choice is
//   the string from doc_to_choice, without the target delimiter (" ") that the request prepends,
//   and characters are Unicode code points (Python's `len`), not UTF-16 units.
// - aggregation: the mean; its standard error is the sample standard deviation (n − 1) over √n,
//   and "N/A" for a single document (lm-eval reports no stderr then).
// - acc_mutual_info (on request): the argmax of log P(choice | prompt) − log P(choice), the latter
//   scored after <bos> alone (lm-eval's unconditional requests ("", " " + choice)).

export type MetricName =
  | "acc"
  | "acc_norm"
  | "acc_mutual_info"
  // OLMo's own (oe-eval / OLMES) definitions, for its request files (see olmo.ts).
  | "olmo_acc_raw"
  | "olmo_acc_per_char"
  | "olmo_acc_uncond"
  | "olmo_bits_per_byte";

/** The metrics where lower is better (all others: higher). */
export const LOWER_IS_BETTER: ReadonlySet<MetricName> = new Set(["olmo_bits_per_byte"]);

/** One document's metric values (1 or 0). */
export type DocMetrics = Partial<Record<MetricName, number>>;

export interface AggregatedMetric {
  value: number;
  /** Undefined for fewer than two documents (lm-eval's "N/A"). */
  stderr: number | undefined;
}

/** Index of the largest value, the first one on ties. */
export function argmax(values: number[]): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

/** Characters as Python counts them (code points). */
export function pythonLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** acc and acc_norm of one document from its choices' log-likelihoods. */
export function multipleChoiceMetrics(
  logprobs: number[],
  choices: string[],
  gold: number,
  metrics: readonly MetricName[] = ["acc", "acc_norm"],
  unconditional?: number[],
): DocMetrics {
  if (logprobs.length !== choices.length) {
    throw new RangeError(`${logprobs.length} log-likelihoods for ${choices.length} choices`);
  }
  const out: DocMetrics = {};
  if (metrics.includes("acc")) out.acc = argmax(logprobs) === gold ? 1 : 0;
  if (metrics.includes("acc_norm")) {
    const normed = logprobs.map((ll, i) => ll / pythonLength(choices[i]));
    out.acc_norm = argmax(normed) === gold ? 1 : 0;
  }
  if (metrics.includes("acc_mutual_info")) {
    if (unconditional?.length !== choices.length) {
      throw new RangeError(`acc_mutual_info needs ${choices.length} unconditional log-likelihoods`);
    }
    const mutual = logprobs.map((ll, i) => ll - unconditional[i]);
    out.acc_mutual_info = argmax(mutual) === gold ? 1 : 0;
  }
  return out;
}

export function mean(values: number[]): number {
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample standard deviation (divides by n − 1). */
export function sampleStddev(values: number[]): number {
  const mu = mean(values);
  let sum = 0;
  for (const v of values) sum += (v - mu) ** 2;
  return Math.sqrt(sum / (values.length - 1));
}

/** Standard error of the mean: sample stddev / √n; undefined below two values. */
export function meanStderr(values: number[]): number | undefined {
  return values.length > 1 ? sampleStddev(values) / Math.sqrt(values.length) : undefined;
}

/** Mean and its stderr of each metric over the documents. */
export function aggregate(docs: DocMetrics[]): Map<MetricName, AggregatedMetric> {
  const out = new Map<MetricName, AggregatedMetric>();
  const names = new Set(docs.flatMap((d) => Object.keys(d) as MetricName[]));
  for (const name of names) {
    const values = docs.map((d) => d[name]).filter((v): v is number => v !== undefined);
    out.set(name, { value: mean(values), stderr: meanStderr(values) });
  }
  return out;
}

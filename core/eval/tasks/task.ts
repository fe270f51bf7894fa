// What a multiple-choice task is: how a published record becomes a document (the prompt, the
// choices, the gold index), with lm-eval's defaults for the delimiters.

import type { DocMetrics, MetricName } from "../metrics.ts";
import type { SourcedRecord } from "../data.ts";

/** One question: lm-eval's doc_to_text, doc_to_choice and doc_to_target, rendered. */
export interface MultipleChoiceDoc {
  /** The prompt shared by the choices ("" for a multiple-input document). */
  text: string;
  choices: string[];
  gold: number;
  /**
   * lm-eval's "multiple input" documents (winogrande): each choice is a context of its own and
   * this shared continuation is what gets scored after each.
   */
  continuation?: string;
  /** truthfulqa_mc2's labels: 1 for each true choice, 0 for each false one. */
  labels?: number[];
}

export interface MultipleChoiceTask {
  name: string;
  /** The Hugging Face dataset lm-eval reads, its config and the split it scores. */
  dataset: string;
  datasetName?: string;
  split: string;
  /** The split lm-eval draws few-shot examples from (its training_split for these tasks). */
  fewshotSplit: string;
  metrics: readonly MetricName[];
  /** lm-eval's task version (metadata.version), reported in the results' "versions". */
  version: number;
  /** A published record → a document; throws EvalDataError naming the record and the field. */
  doc(source: SourcedRecord): MultipleChoiceDoc;
  /** lm-eval's description: text before the few-shot examples and the prompt (mmlu's header). */
  description?: string;
  /** lm-eval's first_n sampler (the few-shot split's first n, mmlu); default its random sampler. */
  fewshotFirstN?: boolean;
  /** A num_fewshot fixed in lm-eval's task config, which its --num_fewshot does not override. */
  fixedFewshot?: number;
  /** A record this task reads from a shared file (mmlu's `all` config holds every subject). */
  keeps?(source: SourcedRecord): boolean;
  /** Per-document metrics other than acc / acc_norm from the choices' log-likelihoods (mc2). */
  scoreDoc?(logprobs: number[], doc: MultipleChoiceDoc): DocMetrics;
}

/** lm-eval's default target delimiter: between the prompt and each choice. */
export const TARGET_DELIMITER = " ";
/** lm-eval's default few-shot delimiter: between examples. */
export const FEWSHOT_DELIMITER = "\n\n";

/**
 * A few-shot example as lm-eval writes it: prompt, target delimiter, gold choice, few-shot
 * delimiter; for a multiple-input document its gold context, the delimiter and the continuation.
 */
export function fewshotExample(doc: MultipleChoiceDoc): string {
  const answer = doc.continuation ?? doc.choices[doc.gold];
  return doc.text + (doc.continuation === undefined ? "" : doc.choices[doc.gold]) +
    TARGET_DELIMITER + answer + FEWSHOT_DELIMITER;
}

/**
 * A document's log-likelihood requests: (examples + prompt, delimiter + choice) for each choice,
 * or for a multiple-input document (examples + choice, delimiter + its continuation).
 */
export function docRequests(
  doc: MultipleChoiceDoc,
  examples = "",
): { context: string; continuation: string }[] {
  const { continuation } = doc;
  if (continuation !== undefined) {
    return doc.choices.map((choice) => ({
      context: examples + choice,
      continuation: TARGET_DELIMITER + continuation,
    }));
  }
  return doc.choices.map((choice) => ({
    context: examples + doc.text,
    continuation: TARGET_DELIMITER + choice,
  }));
}

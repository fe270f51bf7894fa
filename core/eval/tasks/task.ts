// What a multiple-choice task is: how a published record becomes a document (the prompt, the
// choices, the gold index), with lm-eval's defaults for the delimiters.

import type { MetricName } from "../metrics.ts";
import type { SourcedRecord } from "../data.ts";

/** One question: lm-eval's doc_to_text, doc_to_choice and doc_to_target, rendered. */
export interface MultipleChoiceDoc {
  text: string;
  choices: string[];
  gold: number;
}

export interface MultipleChoiceTask {
  name: string;
  /** The Hugging Face dataset lm-eval reads, its config and the split it scores. */
  dataset: string;
  datasetName?: string;
  split: string;
  metrics: readonly MetricName[];
  /** lm-eval's task version (metadata.version), reported in the results' "versions". */
  version: number;
  /** A published record → a document; throws EvalDataError naming the record and the field. */
  doc(source: SourcedRecord): MultipleChoiceDoc;
}

/** lm-eval's default target delimiter: between the prompt and each choice. */
export const TARGET_DELIMITER = " ";
/** lm-eval's default few-shot delimiter: between examples. */
export const FEWSHOT_DELIMITER = "\n\n";

/** The log-likelihood requests of a zero-shot document: (prompt, delimiter + choice) each. */
export function docRequests(doc: MultipleChoiceDoc): { context: string; continuation: string }[] {
  return doc.choices.map((choice) => ({
    context: doc.text,
    continuation: TARGET_DELIMITER + choice,
  }));
}

// The kinds of task beside multiple choice (task.ts), as lm-eval's output_type names them:
// generate_until (gsm8k), loglikelihood_rolling (wikitext, a plain text perplexity) and
// loglikelihood (lambada_openai). Each is a published record → a document, plus the kind's
// settings from lm-eval's task YAML.

import type { SourcedRecord } from "../data.ts";
import type { ExactMatchOptions, FilterPipeline } from "../filters.ts";
import type { MultipleChoiceTask } from "./task.ts";

/** Where a task's data comes from (the Hugging Face dataset lm-eval reads) and its version. */
interface TaskSource {
  name: string;
  dataset: string;
  datasetName?: string;
  split: string;
  /** The split few-shot examples come from (tasks without few-shot: the evaluated split). */
  fewshotSplit: string;
  /** lm-eval's task version (metadata.version). */
  version: number;
}

/** A question and the reference answer its generated answer is matched against. */
export interface GenerationDoc {
  /** lm-eval's doc_to_text: the prompt (after the few-shot examples). */
  text: string;
  /** lm-eval's doc_to_target: the reference, and the answer of a few-shot example. */
  target: string;
}

export interface GenerationTask extends TaskSource {
  kind: "generate_until";
  /** Few-shot examples by default (the YAML's num_fewshot). */
  defaultFewshot: number;
  until: string[];
  /** The YAML's max_gen_toks; lm-eval's HF model's 256 when absent. */
  maxGenToks?: number;
  /** lm-eval's filter_list, each scored with exact_match. */
  filters: FilterPipeline[];
  exactMatch: ExactMatchOptions;
  doc(source: SourcedRecord): GenerationDoc;
}

/** A document scored whole: the text scored, and the text its words and bytes are counted in. */
export interface RollingDoc {
  text: string;
  /** wikitext counts words and bytes in the page before detokenization. */
  counted: string;
}

export interface RollingTask extends TaskSource {
  kind: "loglikelihood_rolling";
  doc(source: SourcedRecord): RollingDoc;
}

/** One loglikelihood request per document (lambada: the text before the last word, the word). */
export interface LoglikelihoodDoc {
  context: string;
  continuation: string;
}

export interface LoglikelihoodTask extends TaskSource {
  kind: "loglikelihood";
  /** perplexity (aggregated as exp(−mean ll)) and acc (is_greedy). */
  metrics: readonly ("perplexity" | "acc")[];
  doc(source: SourcedRecord): LoglikelihoodDoc;
}

export type OtherTask = GenerationTask | RollingTask | LoglikelihoodTask;
export type AnyTask = MultipleChoiceTask | OtherTask;

/** Tasks carry a `kind` unless they are multiple choice (whose interface predates kinds). */
export function isMultipleChoice(task: AnyTask): task is MultipleChoiceTask {
  return !("kind" in task);
}

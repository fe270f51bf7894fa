// The tasks `gemma eval` knows, by lm-eval's names.

import { ARC_CHALLENGE, ARC_EASY } from "./arc.ts";
import { BOOLQ } from "./boolq.ts";
import { HELLASWAG } from "./hellaswag.ts";
import { MMLU_GROUPS, MMLU_TASKS } from "./mmlu.ts";
import { PIQA } from "./piqa.ts";
import { TRUTHFULQA_MC1, TRUTHFULQA_MC2 } from "./truthfulqa.ts";
import { WINOGRANDE } from "./winogrande.ts";
import type { MultipleChoiceTask } from "./task.ts";
import { GSM8K } from "./gsm8k.ts";
import type { AnyTask, OtherTask } from "./kinds.ts";
import { LAMBADA_OPENAI } from "./lambada.ts";
import { PERPLEXITY, WIKITEXT } from "./wikitext.ts";

export {
  docRequests,
  FEWSHOT_DELIMITER,
  fewshotExample,
  type MultipleChoiceDoc,
  type MultipleChoiceTask,
  TARGET_DELIMITER,
} from "./task.ts";

export const TASKS: readonly MultipleChoiceTask[] = [
  ARC_EASY,
  ARC_CHALLENGE,
  PIQA,
  HELLASWAG,
  BOOLQ,
  WINOGRANDE,
  TRUTHFULQA_MC1,
  TRUTHFULQA_MC2,
  ...MMLU_TASKS,
];

/** Groups of tasks, aggregated as lm-eval aggregates them (see ../groups.ts). */
export const GROUPS = MMLU_GROUPS;
export { MMLU_SUBJECTS, type TaskGroup } from "./mmlu.ts";

export function findTask(name: string): MultipleChoiceTask | undefined {
  return TASKS.find((t) => t.name === name);
}

// Tasks of the other kinds (kinds.ts): generate_until, loglikelihood_rolling, loglikelihood.
export {
  type AnyTask,
  type GenerationTask,
  isMultipleChoice,
  type LoglikelihoodTask,
  type OtherTask,
  type RollingTask,
} from "./kinds.ts";

export const OTHER_TASKS: readonly OtherTask[] = [GSM8K, LAMBADA_OPENAI, WIKITEXT, PERPLEXITY];

/** A task of any kind by its lm-eval name. */
export function findAnyTask(name: string): AnyTask | undefined {
  return findTask(name) ?? OTHER_TASKS.find((t) => t.name === name);
}

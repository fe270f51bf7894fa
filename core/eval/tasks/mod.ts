// The tasks `gemma eval` knows, by lm-eval's names.

import { ARC_CHALLENGE, ARC_EASY } from "./arc.ts";
import { BOOLQ } from "./boolq.ts";
import { HELLASWAG } from "./hellaswag.ts";
import { PIQA } from "./piqa.ts";
import { WINOGRANDE } from "./winogrande.ts";
import type { MultipleChoiceTask } from "./task.ts";

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
];

export function findTask(name: string): MultipleChoiceTask | undefined {
  return TASKS.find((t) => t.name === name);
}

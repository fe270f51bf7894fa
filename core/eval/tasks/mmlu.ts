// MMLU (cais/mmlu: one config per subject, and `all` with every subject and a `subject` column;
// split test, few-shot split dev), as lm-eval's default `mmlu` group: per subject the description
// "The following are multiple choice questions (with answers) about {subject, _ → space}.\n\n",
// the prompt "{question.strip()}\nA. …\nB. …\nC. …\nD. …\nAnswer:", the choices "A".."D" (so the
// scored continuations are " A".." D"), gold = answer (0..3), acc only, few-shot examples the dev
// split's first n. The subjects form four category groups (stem, other, social_sciences,
// humanities) under `mmlu`; each group is the mean of its subjects weighted by their sizes.

import { fields } from "../data.ts";
import { pythonStrip } from "../requests.ts";
import type { MetricName } from "../metrics.ts";
import type { MultipleChoiceTask } from "./task.ts";

/** lm-eval's category of each subject (its tag mmlu_<category>_tasks). */
const CATEGORIES: Record<string, string[]> = {
  stem: [
    "abstract_algebra",
    "anatomy",
    "astronomy",
    "college_biology",
    "college_chemistry",
    "college_computer_science",
    "college_mathematics",
    "college_physics",
    "computer_security",
    "conceptual_physics",
    "electrical_engineering",
    "elementary_mathematics",
    "high_school_biology",
    "high_school_chemistry",
    "high_school_computer_science",
    "high_school_mathematics",
    "high_school_physics",
    "high_school_statistics",
    "machine_learning",
  ],
  other: [
    "business_ethics",
    "clinical_knowledge",
    "college_medicine",
    "global_facts",
    "human_aging",
    "management",
    "marketing",
    "medical_genetics",
    "miscellaneous",
    "nutrition",
    "professional_accounting",
    "professional_medicine",
    "virology",
  ],
  social_sciences: [
    "econometrics",
    "high_school_geography",
    "high_school_government_and_politics",
    "high_school_macroeconomics",
    "high_school_microeconomics",
    "high_school_psychology",
    "human_sexuality",
    "professional_psychology",
    "public_relations",
    "security_studies",
    "sociology",
    "us_foreign_policy",
  ],
  humanities: [
    "formal_logic",
    "high_school_european_history",
    "high_school_us_history",
    "high_school_world_history",
    "international_law",
    "jurisprudence",
    "logical_fallacies",
    "moral_disputes",
    "moral_scenarios",
    "philosophy",
    "prehistory",
    "professional_law",
    "world_religions",
  ],
};

/** The 57 subjects, alphabetically (lm-eval's task names are mmlu_<subject>). */
export const MMLU_SUBJECTS: readonly string[] = Object.values(CATEGORIES).flat().sort();

const LETTERS = ["A", "B", "C", "D"];

function mmluTask(subject: string): MultipleChoiceTask {
  return {
    name: `mmlu_${subject}`,
    dataset: "cais/mmlu",
    datasetName: subject,
    split: "test",
    fewshotSplit: "dev",
    metrics: ["acc"],
    version: 1.0,
    description: `The following are multiple choice questions (with answers) about ${
      subject.replaceAll("_", " ")
    }.\n\n`,
    fewshotFirstN: true,
    // The `all` config's records name their subject; a subject's own config has the same column.
    keeps: (source) => source.record.subject === undefined || source.record.subject === subject,
    doc(source) {
      const f = fields(source);
      const choices = f.strings("choices");
      if (choices.length !== 4) f.fail("choices", "a list of 4 strings");
      const lines = choices.map((c, i) => `${LETTERS[i]}. ${c}`).join("\n");
      return {
        text: `${pythonStrip(f.string("question"))}\n${lines}\nAnswer:`,
        choices: LETTERS,
        gold: f.index("answer", 4),
      };
    },
  };
}

export const MMLU_TASKS: readonly MultipleChoiceTask[] = MMLU_SUBJECTS.map(mmluTask);

/**
 * A group of tasks as lm-eval aggregates it (aggregate_metric_list with weight_by_size): each
 * metric is the mean over the group's leaf tasks weighted by their document counts.
 */
export interface TaskGroup {
  name: string;
  /** lm-eval's group_alias. */
  alias: string;
  /** Member tasks or groups, by name. */
  members: readonly string[];
  /** The metrics aggregated (lm-eval's aggregate_metric_list). */
  metrics: readonly MetricName[];
  version: number;
}

/** lm-eval's `mmlu` and its four category groups, in the order its table lists them. */
export const MMLU_GROUPS: readonly TaskGroup[] = [
  {
    name: "mmlu",
    alias: "mmlu",
    members: ["mmlu_humanities", "mmlu_other", "mmlu_social_sciences", "mmlu_stem"],
    metrics: ["acc"],
    version: 2,
  },
  ...Object.entries(CATEGORIES).map(([category, subjects]) => ({
    name: `mmlu_${category}`,
    alias: category,
    members: subjects.map((s) => `mmlu_${s}`),
    metrics: ["acc"] as MetricName[],
    version: 2,
  })).sort((a, b) => a.name.localeCompare(b.name)),
];

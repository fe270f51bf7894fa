// PIQA (baber/piqa, split validation), as lm-eval's piqa.yaml: "Question: {goal}\nAnswer:",
// the choices [sol1, sol2], gold = label.

import { fields } from "../data.ts";
import type { MultipleChoiceTask } from "./task.ts";

export const PIQA: MultipleChoiceTask = {
  name: "piqa",
  dataset: "baber/piqa",
  split: "validation",
  fewshotSplit: "train",
  metrics: ["acc", "acc_norm"],
  version: 1.0,
  doc(source) {
    const f = fields(source);
    const choices = [f.string("sol1"), f.string("sol2")];
    return { text: `Question: ${f.string("goal")}\nAnswer:`, choices, gold: f.index("label", 2) };
  },
};

// BoolQ (aps/super_glue, config boolq, split validation), as lm-eval's super_glue/boolq
// default.yaml: "{passage}\nQuestion: {question}?\nAnswer:", the choices ["no", "yes"], gold =
// label; acc only. google/boolq's layout (a boolean `answer` instead of `label`) is read too.

import { fields } from "../data.ts";
import type { MultipleChoiceTask } from "./task.ts";

export const BOOLQ: MultipleChoiceTask = {
  name: "boolq",
  dataset: "aps/super_glue",
  datasetName: "boolq",
  split: "validation",
  fewshotSplit: "train",
  metrics: ["acc"],
  version: 2.0,
  doc(source) {
    const f = fields(source);
    const text = `${f.string("passage")}\nQuestion: ${f.string("question")}?\nAnswer:`;
    let gold: number;
    if (!f.has("label") && f.has("answer")) {
      const answer = source.record.answer;
      gold = typeof answer === "boolean" ? Number(answer) : f.fail("answer", "true or false");
    } else {
      gold = f.index("label", 2);
    }
    return { text, choices: ["no", "yes"], gold };
  },
};

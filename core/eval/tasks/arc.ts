// ARC (allenai/ai2_arc, configs ARC-Easy and ARC-Challenge, split test), as lm-eval's arc_easy.yaml:
// "Question: {question}\nAnswer:", the choices' texts, gold = the index of answerKey among the
// choices' labels (labels are "A".."E" or, in a few questions, "1".."5").

import { fields } from "../data.ts";
import type { MultipleChoiceTask } from "./task.ts";

function arcTask(name: string, datasetName: string): MultipleChoiceTask {
  return {
    name,
    dataset: "allenai/ai2_arc",
    datasetName,
    split: "test",
    fewshotSplit: "train",
    metrics: ["acc", "acc_norm"],
    version: 1.0,
    doc(source) {
      const f = fields(source);
      const choices = f.object("choices");
      const texts = f.strings("text", choices);
      const labels = f.strings("label", choices);
      if (labels.length !== texts.length) {
        f.fail("choices", "an object with as many labels as texts");
      }
      const gold = labels.indexOf(f.string("answerKey"));
      if (gold < 0) f.fail("answerKey", `one of the labels ${labels.join(", ")}`);
      return { text: `Question: ${f.string("question")}\nAnswer:`, choices: texts, gold };
    },
  };
}

export const ARC_EASY = arcTask("arc_easy", "ARC-Easy");
export const ARC_CHALLENGE = arcTask("arc_challenge", "ARC-Challenge");

// WinoGrande (allenai/winogrande, config winogrande_xl, split validation), as lm-eval's
// winogrande default.yaml and preprocess_winogrande.py: partial scoring. Each option fills the
// blank ("_", its first occurrence) and is a context of its own, sentence[:blank] + option; the
// scored continuation, shared by both, is " " + the rest of the sentence after the blank, stripped.
// gold = answer ("1" or "2") − 1; acc only.

import { fields } from "../data.ts";
import { pythonStrip } from "../requests.ts";
import type { MultipleChoiceTask } from "./task.ts";

export const WINOGRANDE: MultipleChoiceTask = {
  name: "winogrande",
  dataset: "allenai/winogrande",
  datasetName: "winogrande_xl",
  split: "validation",
  fewshotSplit: "train",
  metrics: ["acc"],
  version: 1.0,
  doc(source) {
    const f = fields(source);
    const sentence = f.string("sentence");
    const blank = sentence.indexOf("_");
    if (blank < 0) f.fail("sentence", "a sentence with a blank (_)");
    const answer = f.string("answer");
    if (answer !== "1" && answer !== "2") f.fail("answer", `"1" or "2"`);
    const prefix = sentence.slice(0, blank);
    return {
      text: "",
      choices: [prefix + f.string("option1"), prefix + f.string("option2")],
      gold: Number(answer) - 1,
      continuation: pythonStrip(sentence.slice(blank + 1)),
    };
  },
};

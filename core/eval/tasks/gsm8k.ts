// GSM8K (openai/gsm8k, config main, split test; few-shot from train), as lm-eval's gsm8k.yaml:
// "Question: {question}\nAnswer:", the target is the whole answer (its reasoning and
// "#### <number>"), 5-shot, generation until "Question:", "</s>" or "<|im_end|>" (and the end
// token). Two filters, each scored with exact_match (case ignored; ",", "$", everything up to
// "#### " and a final "." removed from both sides): strict-match takes the number after "#### ",
// flexible-extract the last number-like run of the answer.

import { fields } from "../data.ts";
import type { GenerationTask } from "./kinds.ts";

export const GSM8K: GenerationTask = {
  kind: "generate_until",
  name: "gsm8k",
  dataset: "openai/gsm8k",
  datasetName: "main",
  split: "test",
  fewshotSplit: "train",
  version: 3.0,
  defaultFewshot: 5,
  until: ["Question:", "</s>", "<|im_end|>"],
  filters: [
    {
      name: "strict-match",
      steps: [
        { function: "regex", regexPattern: "#### (\\-?[0-9\\.\\,]+)" },
        { function: "take_first" },
      ],
    },
    {
      name: "flexible-extract",
      steps: [
        { function: "regex", regexPattern: "(-?[$0-9.,]{2,})|(-?[0-9]+)", groupSelect: -1 },
        { function: "take_first" },
      ],
    },
  ],
  exactMatch: {
    ignoreCase: true,
    ignorePunctuation: false,
    regexesToIgnore: [",", "\\$", "(?s).*#### ", "\\.$"],
  },
  doc(source) {
    const f = fields(source);
    return { text: `Question: ${f.string("question")}\nAnswer:`, target: f.string("answer") };
  },
};

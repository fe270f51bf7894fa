// LAMBADA (EleutherAI/lambada_openai, config default, split test), as lm-eval's
// lambada_openai.yaml: the log-likelihood of a passage's last word (split on single spaces, as
// Python's text.split(' ')) after the rest of it; acc = the word is the greedy continuation,
// perplexity = exp(−mean ll) over the passages.

import { fields } from "../data.ts";
import type { LoglikelihoodTask } from "./kinds.ts";

export const LAMBADA_OPENAI: LoglikelihoodTask = {
  kind: "loglikelihood",
  name: "lambada_openai",
  dataset: "EleutherAI/lambada_openai",
  datasetName: "default",
  split: "test",
  fewshotSplit: "test",
  version: 1.0,
  metrics: ["perplexity", "acc"],
  doc(source) {
    const words = fields(source).string("text").split(" ");
    return { context: words.slice(0, -1).join(" "), continuation: " " + words[words.length - 1] };
  },
};

// HellaSwag (Rowan/hellaswag, split validation), as lm-eval's hellaswag.yaml and its utils.py:
// the prompt is preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b)), each choice
// preprocess(ending), gold = int(label). preprocess strips the text, turns " [title]" into ". ",
// removes every "[...]" (WikiHow artifacts; no newline inside) and then each double space.

import { fields } from "../data.ts";
import { pythonStrip } from "../requests.ts";
import type { MultipleChoiceTask } from "./task.ts";

/** lm-eval's hellaswag preprocess. */
export function hellaswagPreprocess(text: string): string {
  return pythonStrip(text)
    .replaceAll(" [title]", ". ")
    .replace(/\[[^\n]*?\]/g, "")
    .replaceAll("  ", " ");
}

/** Python's `str.capitalize()`: the first character upper-cased, the rest lower-cased. */
export function pythonCapitalize(text: string): string {
  const [first = "", ...rest] = text;
  return first.toUpperCase() + rest.join("").toLowerCase();
}

export const HELLASWAG: MultipleChoiceTask = {
  name: "hellaswag",
  dataset: "Rowan/hellaswag",
  split: "validation",
  fewshotSplit: "train",
  metrics: ["acc", "acc_norm"],
  version: 1.0,
  doc(source) {
    const f = fields(source);
    const context = `${f.string("ctx_a")} ${pythonCapitalize(f.string("ctx_b"))}`;
    const choices = f.strings("endings").map(hellaswagPreprocess);
    return {
      text: hellaswagPreprocess(`${f.string("activity_label")}: ${context}`),
      choices,
      gold: f.index("label", choices.length),
    };
  },
};

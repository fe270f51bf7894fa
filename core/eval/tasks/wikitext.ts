// Perplexity tasks (loglikelihood_rolling):
// - wikitext (EleutherAI/wikitext_document_level, config wikitext-2-raw-v1, split test), as
//   lm-eval's wikitext.yaml: each page detokenized by its wikitext_detokenizer (below) is scored;
//   words and bytes are counted in the page as published.
// - perplexity: the user's own text, a .txt file as one document or the "text" field of each
//   record of a .jsonl / .json / .parquet file; words and bytes counted in that text.

import { fields } from "../data.ts";
import { pythonRegex } from "../python_regex.ts";
import type { RollingTask } from "./kinds.ts";

/** Python-style re.sub with a replacement that only uses group 1 (`\1`). */
function sub(pattern: string, replacement: string, text: string): string {
  return text.replace(pythonRegex(pattern), replacement.replaceAll("\\1", "$1"));
}

/** lm-eval's wikitext_detokenizer: undoes the dataset's tokenization spaces, step by step. */
export function wikitextDetokenize(page: string): string {
  let s = page;
  // contractions
  s = s.replaceAll("s '", "s'");
  s = sub("/' [0-9]/", "/'[0-9]/", s);
  // number separators
  s = s.replaceAll(" @-@ ", "-").replaceAll(" @,@ ", ",").replaceAll(" @.@ ", ".");
  // punctuation
  for (const p of [":", ";", ".", "!", "?", ","]) s = s.replaceAll(` ${p} `, `${p} `);
  // double brackets
  s = sub("\\(\\s*([^\\)]*?)\\s*\\)", "(\\1)", s);
  s = sub("\\[\\s*([^\\]]*?)\\s*\\]", "[\\1]", s);
  s = sub("{\\s*([^}]*?)\\s*}", "{\\1}", s);
  s = sub('\\"\\s*([^\\"]*?)\\s*\\"', '"\\1"', s);
  s = sub("'\\s*([^']*?)\\s*'", "'\\1'", s);
  // miscellaneous
  s = s.replaceAll("= = = =", "====").replaceAll("= = =", "===").replaceAll("= =", "==");
  s = s.replaceAll(" \u00b0 ", "\u00b0");
  s = s.replaceAll(" \n", "\n").replaceAll("\n ", "\n");
  s = s.replaceAll(" N ", " 1 ").replaceAll(" 's", "'s");
  return s;
}

export const WIKITEXT: RollingTask = {
  kind: "loglikelihood_rolling",
  name: "wikitext",
  dataset: "EleutherAI/wikitext_document_level",
  datasetName: "wikitext-2-raw-v1",
  split: "test",
  fewshotSplit: "train",
  version: 2.0,
  doc(source) {
    const page = fields(source).string("page");
    return { text: wikitextDetokenize(page), counted: page };
  },
};

export const PERPLEXITY: RollingTask = {
  kind: "loglikelihood_rolling",
  name: "perplexity",
  dataset: "local",
  split: "test",
  fewshotSplit: "test",
  version: 1.0,
  doc(source) {
    const text = fields(source).string("text");
    return { text, counted: text };
  },
};

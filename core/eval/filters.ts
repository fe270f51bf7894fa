// What lm-eval does to a generated answer before scoring it, and how it scores it:
// - filters (lm_eval/filters): `regex` takes Python's re.findall of a pattern over the text, the
//   match at `group_select` (negative counts from the end); a match with several groups is the
//   first non-empty group; the result is str.strip()ped; no match (or no non-empty group) gives
//   the fallback "[invalid]". `take_first` keeps the first of a document's answers (we generate
//   one per document, so it is the answer itself).
// - exact_match (lm_eval/api/metrics.py, HF evaluate's definition): every regex in
//   regexes_to_ignore is removed (re.sub) from prediction and reference, in order; then
//   ignore_case lower-cases both and ignore_punctuation deletes ASCII punctuation
//   (string.punctuation); 1 when the two are then equal.

import { findall, pythonIndex, pythonRegex, removeMatches } from "./python_regex.ts";
import { pythonStrip } from "./requests.ts";

export type FilterStep =
  | { function: "regex"; regexPattern: string; groupSelect?: number; fallback?: string }
  | { function: "take_first" };

/** A named filter pipeline (lm-eval's filter_list entry); "none" keeps the text as it is. */
export interface FilterPipeline {
  name: string;
  steps: FilterStep[];
}

export interface ExactMatchOptions {
  ignoreCase?: boolean;
  ignorePunctuation?: boolean;
  regexesToIgnore?: string[];
}

const FALLBACK = "[invalid]";

/** lm-eval's RegexFilter on one answer. */
export function regexFilter(
  text: string,
  pattern: string,
  groupSelect = 0,
  fallback = FALLBACK,
): string {
  const matches = findall(pythonRegex(pattern), text);
  if (matches.length === 0) return fallback;
  const match = pythonIndex(matches, groupSelect);
  if (Array.isArray(match)) {
    const first = match.find((g) => g !== "");
    return first === undefined ? fallback : pythonStrip(first);
  }
  return pythonStrip(match);
}

/** One answer through a pipeline of filters (take_first of a single answer is the answer). */
export function applyFilters(text: string, steps: FilterStep[]): string {
  let out = text;
  for (const step of steps) {
    if (step.function === "regex") {
      out = regexFilter(out, step.regexPattern, step.groupSelect, step.fallback);
    }
  }
  return out;
}

/** string.punctuation: the ASCII punctuation characters. */
const PUNCTUATION = new Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");

function normalise(text: string, options: ExactMatchOptions): string {
  let out = text;
  for (const pattern of options.regexesToIgnore ?? []) {
    out = removeMatches(pythonRegex(pattern), out);
  }
  if (options.ignoreCase) out = out.toLowerCase();
  if (options.ignorePunctuation) out = [...out].filter((c) => !PUNCTUATION.has(c)).join("");
  return out;
}

/** lm-eval's exact_match of one prediction against its reference: 1 or 0. */
export function exactMatch(
  prediction: string,
  reference: string,
  options: ExactMatchOptions = {},
): number {
  return normalise(prediction, options) === normalise(reference, options) ? 1 : 0;
}

// The non-multiple-choice request kinds' pieces against values worked out by hand or printed by
// Python (the comparison with lm-eval itself is tests/lm_eval_gen_test.ts).

import assert from "node:assert/strict";
import { EvalDataError } from "./data.ts";
import { applyFilters, exactMatch, regexFilter } from "./filters.ts";
import { cutAtStops } from "./generate_until.ts";
import {
  bitsPerByte,
  countWords,
  perplexity,
  perplexityStderr,
  weightedPerplexity,
} from "./perplexity.ts";
import { PythonRandom } from "./python_random.ts";
import { pythonRegex } from "./python_regex.ts";
import { rollingWindows } from "./rolling.ts";
import { GSM8K } from "./tasks/gsm8k.ts";
import { LAMBADA_OPENAI } from "./tasks/lambada.ts";
import { wikitextDetokenize } from "./tasks/wikitext.ts";

Deno.test("rolling windows predict every token once, each window within max_length + 1", () => {
  const tokens = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const windows = rollingWindows(tokens, 2, 4);
  assert.deepEqual(windows, [
    { context: [2], continuation: [10, 11, 12, 13] },
    { context: [13], continuation: [14, 15, 16, 17] },
    { context: [15, 16, 17], continuation: [18, 19] },
  ]);
  assert.deepEqual(windows.flatMap((w) => w.continuation), tokens);
  for (const w of windows) assert.ok(w.context.length + w.continuation.length <= 5);
  assert.deepEqual(rollingWindows([7], 2, 4), [{ context: [2], continuation: [7] }]);
  assert.deepEqual(rollingWindows([], 2, 4), []);
  assert.throws(() => rollingWindows(tokens, 2, 0), RangeError);
});

Deno.test("stop strings cut as lm-eval cuts: each in turn, before its first occurrence", () => {
  assert.equal(cutAtStops("12 apples.\n\nQuestion: next", ["Question:", "</s>"]), "12 apples.\n\n");
  assert.equal(cutAtStops("a</s>b Question:", ["Question:", "</s>"]), "a");
  // Overlapping stops: "Xc" cuts first, then "bX" no longer occurs (the earliest would give "a").
  assert.equal(cutAtStops("abXcd", ["Xc", "bX"]), "ab");
  assert.equal(cutAtStops("no stop", ["", "Question:"]), "no stop");
});

Deno.test("gsm8k's filters on answers, with fallback and group selection", () => {
  const [strict, flexible] = GSM8K.filters;
  const answer = "She pays $1,250.50 in total.\n#### 1,250.50\n\nThen 7";
  assert.equal(applyFilters(answer, strict.steps), "1,250.50");
  assert.equal(applyFilters(answer, flexible.steps), "7"); // the last match, group 2
  assert.equal(applyFilters("nothing", strict.steps), "[invalid]");
  assert.equal(applyFilters("costs $5.", flexible.steps), "$5.");
  assert.equal(regexFilter("x 12 y 34", "(\\d+)", -2), "12");
  // A reference's reasoning goes with "(?s).*#### "; "$", "," and a final "." go on both sides.
  const reference = "4 * 2.50 = $<<4*2.5=10>>10.\n#### 1,000";
  assert.equal(exactMatch("$1,000.", reference, GSM8K.exactMatch), 1);
  assert.equal(exactMatch("1000.0", reference, GSM8K.exactMatch), 0);
  assert.equal(exactMatch("[invalid]", reference, GSM8K.exactMatch), 0);
});

Deno.test("exact_match's normalisation: case, ASCII punctuation, Python's $ before a final newline", () => {
  assert.equal(exactMatch("Hello, World!", "hello world", { ignoreCase: true }), 0);
  assert.equal(
    exactMatch("Hello, World!", "hello world", { ignoreCase: true, ignorePunctuation: true }),
    1,
  );
  assert.equal(exactMatch("«a»", "a", { ignorePunctuation: true }), 0); // not ASCII punctuation
  assert.equal(exactMatch("12.\n", "12\n", { regexesToIgnore: ["\\.$"] }), 1);
  assert.equal(exactMatch("1.2", "12", { regexesToIgnore: ["\\.$"] }), 0);
});

Deno.test("Python patterns: inline flags, literal braces, Unicode classes", () => {
  assert.equal("a\nb#### 3".replace(pythonRegex("(?s).*#### "), ""), "3");
  assert.equal("a\nb#### 3".replace(pythonRegex(".*#### "), ""), "a\n3");
  assert.equal("{ x }".replace(pythonRegex("{\\s*([^}]*?)\\s*}"), "{$1}"), "{x}");
  assert.deepEqual("٣٤ 12".match(pythonRegex("\\d+")), ["٣٤", "12"]);
  assert.deepEqual("a\x85b".split(pythonRegex("\\s")), ["a", "b"]);
});

Deno.test("perplexity metrics and Python's word count", () => {
  assert.equal(countWords(" a  b\tc\n"), 5); // len(re.split(r"\s+", …)) counts empty ends
  assert.equal(countWords(""), 1);
  assert.equal(countWords("x\x85y"), 2);
  assert.ok(Math.abs(perplexity([-1, -3]) - Math.exp(2)) < 1e-12);
  assert.ok(Math.abs(weightedPerplexity([-4, -6], [2, 3]) - Math.exp(2)) < 1e-12);
  assert.ok(Math.abs(bitsPerByte([-4, -6], [2, 3]) - 2 / Math.LN2) < 1e-12);
});

Deno.test("perplexity's stderr is lm-eval's bootstrap, draw for draw", () => {
  // lm_eval.api.metrics.bootstrap_stderr(perplexity, xs, iters), printed by Python.
  assert.equal(perplexityStderr([-1.5, -2.25, -0.5, -3.0, -1.0]), 2.3538103653187283);
  assert.equal(perplexityStderr([-12.5, -0.25, -7.0], 3000), 49869.467450528304);
  assert.equal(perplexityStderr([-1]), undefined);
});

Deno.test("Python's random() and choices(), as printed by CPython 3.11", () => {
  const r = new PythonRandom(0);
  assert.equal(r.random(), 0.8444218515250481);
  assert.equal(r.random(), 0.7579544029403025);
  assert.deepEqual(new PythonRandom(7).choices([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 6), [
    3,
    1,
    6,
    0,
    5,
    3,
  ]);
});

Deno.test("wikitext's detokenizer and lambada's split, as lm-eval's", () => {
  const page =
    ' = = Plot = = \n The film ( 2001 ) was " great " , it cost 1 @,@ 000 @.@ 5 dollars ; see [ 1 ] . \n';
  assert.equal(
    wikitextDetokenize(page),
    ' == Plot ==\nThe film (2001) was "great", it cost 1,000.5 dollars; see [1].\n',
  );
  const doc = LAMBADA_OPENAI.doc({ record: { text: "he said  to her  goodbye" }, where: "x" });
  assert.deepEqual(doc, { context: "he said  to her ", continuation: " goodbye" });
  assert.throws(
    () => GSM8K.doc({ record: { question: "q" }, where: "gsm8k.jsonl:3" }),
    (e: Error) =>
      e instanceof EvalDataError &&
      e.message === 'gsm8k.jsonl:3: field "answer" must be a string; it is missing',
  );
});

// mmlu and truthfulqa documents as lm-eval's YAMLs render them (the full requests of both are
// checked against lm-eval itself in tests/lm_eval_test.ts; these pin the details).

import assert from "node:assert/strict";
import { findTask, GROUPS, MMLU_SUBJECTS } from "./mod.ts";
import { EvalDataError, type SourcedRecord } from "../data.ts";

const at = (record: Record<string, unknown>): SourcedRecord => ({ record, where: "t.jsonl:1" });

Deno.test("mmlu: 57 subjects, lm-eval's prompt, header and groups", () => {
  assert.equal(MMLU_SUBJECTS.length, 57);
  const task = findTask("mmlu_high_school_us_history")!;
  assert.equal(
    task.description,
    "The following are multiple choice questions (with answers) about high school us history.\n\n",
  );
  const d = task.doc(at({ question: " Who? \n", choices: ["a", "b", "c", "d"], answer: 3 }));
  assert.equal(d.text, "Who?\nA. a\nB. b\nC. c\nD. d\nAnswer:");
  assert.deepEqual(d.choices, ["A", "B", "C", "D"]);
  assert.equal(d.gold, 3);
  assert.ok(task.keeps!(at({ subject: "high_school_us_history" })));
  assert.ok(!task.keeps!(at({ subject: "anatomy" })));
  const leaves = GROUPS.filter((g) => g.name !== "mmlu").flatMap((g) => g.members);
  assert.deepEqual([...leaves].sort(), MMLU_SUBJECTS.map((s) => `mmlu_${s}`));
  assert.throws(
    () => task.doc(at({ question: "q", choices: ["a", "b", "c"], answer: 0 })),
    (e: Error) =>
      e instanceof EvalDataError && /field "choices" must be a list of 4/.test(e.message),
  );
});

Deno.test("truthfulqa: the fixed preamble, mc1's first choice, mc2's true probability mass", () => {
  const record = {
    question: "Q?",
    mc1_targets: { choices: ["t", "f"], labels: [1, 0] },
    mc2_targets: { choices: ["t1", "f", "t2"], labels: [1, 0, 1] },
  };
  const mc1 = findTask("truthfulqa_mc1")!.doc(at(record));
  assert.ok(mc1.text.startsWith("Q: What is human life expectancy in the United States?\nA: "));
  assert.ok(mc1.text.endsWith("held in Barcelona, Spain.\n\nQ: Q?\nA:"));
  assert.deepEqual([mc1.choices, mc1.gold], [["t", "f"], 0]);
  const mc2Task = findTask("truthfulqa_mc2")!;
  const mc2 = mc2Task.doc(at(record));
  assert.deepEqual(mc2.choices, ["t1", "f", "t2"]);
  // P ∝ (1, 2, 1): the true ones hold 2 / 4.
  const lls = [Math.log(1), Math.log(2), Math.log(1)].map((x) => x - 7);
  assert.ok(Math.abs(mc2Task.scoreDoc!(lls, mc2).acc! - 0.5) < 1e-15);
  assert.equal(mc2Task.fixedFewshot, 0);
  assert.throws(
    () => mc2Task.doc(at({ ...record, mc2_targets: { choices: ["a"], labels: [2] } })),
    /field "mc2_targets" must be an object whose labels are 1 0s and 1s/,
  );
});

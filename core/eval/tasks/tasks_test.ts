// Task rendering against lm-eval's own output: the expected strings below were produced by
// lm-eval 0.4.13 (its Jinja templates and hellaswag's process_docs) on the same records.

import assert from "node:assert/strict";
import { docRequests, fewshotExample, findTask, TASKS } from "./mod.ts";
import { EvalDataError, type SourcedRecord } from "../data.ts";
import { hellaswagPreprocess, pythonCapitalize } from "./hellaswag.ts";

const at = (record: Record<string, unknown>): SourcedRecord => ({ record, where: "t.jsonl:1" });
const doc = (task: string, record: Record<string, unknown>) => findTask(task)!.doc(at(record));

const ARC = {
  id: "x1",
  question: "Which gas do plants take in from the air?",
  choices: { text: ["carbon dioxide", "oxygen", "helium", "neon"], label: ["A", "B", "C", "D"] },
  answerKey: "A",
};

Deno.test("arc_easy and arc_challenge render as lm-eval's arc_easy.yaml", () => {
  for (const name of ["arc_easy", "arc_challenge"]) {
    const d = doc(name, ARC);
    assert.equal(d.text, "Question: Which gas do plants take in from the air?\nAnswer:");
    assert.deepEqual(d.choices, ARC.choices.text);
    assert.equal(d.gold, 0);
  }
  assert.equal(doc("arc_easy", { ...ARC, answerKey: "C" }).gold, 2);
  assert.deepEqual(docRequests(doc("arc_easy", ARC))[1], {
    context: "Question: Which gas do plants take in from the air?\nAnswer:",
    continuation: " oxygen",
  });
});

Deno.test("piqa and boolq render as lm-eval's YAMLs", () => {
  const piqa = doc("piqa", {
    goal: "To keep bread fresh longer,",
    sol1: "store it in a sealed bag.",
    sol2: "leave it in the sun.",
    label: 0,
  });
  assert.deepEqual(piqa, {
    text: "Question: To keep bread fresh longer,\nAnswer:",
    choices: ["store it in a sealed bag.", "leave it in the sun."],
    gold: 0,
  });
  const record = {
    passage: "Water boils at 100 degrees Celsius at sea level.",
    question: "does water boil at 100 degrees at sea level",
    idx: 0,
    label: 1,
  };
  const boolq = doc("boolq", record);
  assert.equal(
    boolq.text,
    "Water boils at 100 degrees Celsius at sea level.\nQuestion: does water boil at 100 degrees at sea level?\nAnswer:",
  );
  assert.deepEqual([boolq.choices, boolq.gold], [["no", "yes"], 1]);
  const { label: _, ...google } = { ...record, answer: false };
  assert.equal(doc("boolq", google).gold, 0, "google/boolq's boolean answer");
});

Deno.test("hellaswag is preprocessed as lm-eval's utils.process_docs", () => {
  const d = doc("hellaswag", {
    ind: 4,
    activity_label: "Removing ice from car",
    ctx_a:
      "Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles.",
    ctx_b: "then THE man",
    endings: [
      ", the man adds wax to the windshield and cuts it.",
      " [header] How to clean a car [title] Get a bucket. [step] Fill it  with water.",
      "the man continues removing the snow on his car.  ",
      "a woman [substeps] smiles",
    ],
    label: "3",
  });
  assert.equal(
    d.text,
    "Removing ice from car: Then, the man writes over the snow covering the window of a car, and a woman wearing winter clothes smiles. Then the man",
  );
  assert.deepEqual(d.choices, [
    ", the man adds wax to the windshield and cuts it.",
    " How to clean a car. Get a bucket. Fill it with water.",
    "the man continues removing the snow on his car.",
    "a woman smiles",
  ]);
  assert.equal(d.gold, 3);
  assert.equal(pythonCapitalize("éCOLE à"), "École à");
  assert.equal(hellaswagPreprocess("a [x\n] b"), "a [x\n] b", "no newline inside brackets");
});

Deno.test("winogrande scores the sentence's end after each option, as lm-eval", () => {
  const d = doc("winogrande", {
    sentence: "The cat chased the mouse until _ got tired and  stopped running. ",
    option1: "the cat",
    option2: "the mouse",
    answer: "1",
  });
  assert.deepEqual(d.choices, [
    "The cat chased the mouse until the cat",
    "The cat chased the mouse until the mouse",
  ]);
  assert.equal(d.gold, 0);
  assert.deepEqual(docRequests(d).map((r) => r.continuation), [
    " got tired and  stopped running.",
    " got tired and  stopped running.",
  ]);
  assert.equal(docRequests(d, "X\n\n")[1].context, "X\n\nThe cat chased the mouse until the mouse");
  assert.equal(
    fewshotExample(d),
    "The cat chased the mouse until the cat got tired and  stopped running.\n\n",
  );
});

Deno.test("a bad record names the file, line and field", () => {
  const bad = (task: string, record: Record<string, unknown>, pattern: RegExp) =>
    assert.throws(() => doc(task, record), (e: Error) => {
      assert.ok(e instanceof EvalDataError);
      assert.match(e.message, /^t\.jsonl:1: /);
      assert.match(e.message, pattern);
      return true;
    });
  const { question: _, ...noQuestion } = ARC;
  bad("arc_easy", noQuestion, /field "question" must be a string; it is missing/);
  bad("arc_easy", { ...ARC, answerKey: "Z" }, /field "answerKey" must be one of the labels/);
  bad("piqa", { goal: "g", sol1: "a", sol2: "b", label: 2 }, /"label" must be a choice index/);
  bad("hellaswag", { activity_label: "a", ctx_a: "b", ctx_b: "c", endings: [] }, /"endings"/);
  assert.deepEqual(TASKS.map((t) => t.name).filter((n) => !n.startsWith("mmlu_")), [
    "arc_easy",
    "arc_challenge",
    "piqa",
    "hellaswag",
    "boolq",
    "winogrande",
    "truthfulqa_mc1",
    "truthfulqa_mc2",
  ]);
  assert.equal(TASKS.filter((t) => t.name.startsWith("mmlu_")).length, 57);
});

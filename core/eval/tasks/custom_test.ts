import assert from "node:assert/strict";
import { readTaskFile } from "./custom.ts";
import { EvalDataError, type SourcedRecord } from "../data.ts";

const at = (record: Record<string, unknown>): SourcedRecord => ({ record, where: "d.jsonl:3" });

async function taskFile(name: string, text: string) {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/${name}`, text);
  return `${dir}/${name}`;
}

Deno.test("custom task files: lm-eval's field-or-template rules, JSON and YAML", async () => {
  const path = await taskFile(
    "t.yaml",
    [
      "task: t",
      "data: d.jsonl",
      "doc_to_text: \"{% set p = 'Q: ' %}{{p}}{{ q.strip() }}{% if n is defined %}{{n}}{% endif %}\\nA:\"",
      'doc_to_choice: "{{ opts.list }}"',
      "doc_to_target: \"{{ 'yes' if good else 'no' }}\"",
    ].join("\n"),
  );
  const { task, data } = await readTaskFile(path);
  assert.equal(data, path.replace("t.yaml", "d.jsonl"));
  assert.deepEqual(task.metrics, ["acc", "acc_norm"]);
  const d = task.doc(at({ q: " hi ", opts: { list: ["no", "yes"] }, good: true }));
  assert.deepEqual(d, { text: "Q: hi\nA:", choices: ["no", "yes"], gold: 1 });
  // The set variable is no field; the fields a template reads are checked by name.
  assert.throws(
    () => task.doc(at({ q: "x", good: true })),
    (e: Error) =>
      e instanceof EvalDataError &&
      e.message === 'd.jsonl:3: field "opts" (read by doc_to_choice) is missing',
  );
  const json = await taskFile(
    "t.json",
    JSON.stringify({
      task: "j",
      data: "/abs/d.jsonl",
      doc_to_text: "text",
      doc_to_choice: ["a", "b"],
      doc_to_target: 1,
    }),
  );
  const j = await readTaskFile(json);
  assert.equal(j.data, "/abs/d.jsonl");
  assert.deepEqual(j.task.doc(at({ text: "T" })), { text: "T", choices: ["a", "b"], gold: 1 });
  assert.throws(() => j.task.doc(at({})), /field "text" \(read by doc_to_text\) is missing/);
  const bad = await taskFile("b.json", JSON.stringify({ task: "b", data: "d", doc_to_text: "x" }));
  await assert.rejects(readTaskFile(bad), /b\.json: "doc_to_choice" must be a template or/);
  const typo = await taskFile("c.json", JSON.stringify({ task: "c", dataset: "d" }));
  await assert.rejects(readTaskFile(typo), /c\.json: "dataset" must be left out \(known keys: /);
});

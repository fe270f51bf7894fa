// `gemma eval` against lm-evaluation-harness itself: lm-eval 0.4.13's HF model (transformers, CPU
// torch, float32) and its own task YAMLs on the same tiny random checkpoint and the same local
// data files (tests/python/lm_eval_tasks.py), against `gemma eval --dtype f32`. Every request's
// log-likelihood and is_greedy, and every task's and group's acc, acc_norm, acc_mutual_info (asked
// for in the 0-shot run) and stderr, must agree: including mmlu (three subjects in two categories,
// the groups weighted by size; 2-shot from its dev split) and truthfulqa mc1 / mc2.
// Needs lm-eval, transformers, accelerate and torch in the reference venv (tools/setup_python.sh,
// which the test task runs, installs them); without them the tests fail.

import assert from "node:assert/strict";
import { buildTinyModel } from "./fixtures.ts";
import { runPython } from "./python_reference.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DATA: Record<string, string> = {
  arc_easy: `${ROOT}examples/eval/arc_easy.jsonl`,
  piqa: `${ROOT}tests/data/eval/piqa.jsonl`,
  hellaswag: `${ROOT}tests/data/eval/hellaswag.jsonl`,
  boolq: `${ROOT}tests/data/eval/boolq.jsonl`,
  winogrande: `${ROOT}tests/data/eval/winogrande.jsonl`,
  truthfulqa_mc1: `${ROOT}tests/data/eval/truthfulqa.jsonl`,
  truthfulqa_mc2: `${ROOT}tests/data/eval/truthfulqa.jsonl`,
};
const MMLU = `${ROOT}tests/data/eval/mmlu`;
const SUBJECTS = ["anatomy", "astronomy", "business_ethics"];
const mmluFile = (subject: string, split: string) =>
  `${MMLU}/${subject}/${split}-00000-of-00001.jsonl`;
const GROUPS = ["mmlu", "mmlu_stem", "mmlu_other"];

// The few-shot (training) split: the same files again (HF's json loader takes no Parquet); mmlu's
// is its dev split, which gemma finds in the --data folder.
const FEWSHOT = {
  ...DATA,
  ...Object.fromEntries(SUBJECTS.map((s) => [`mmlu_${s}`, mmluFile(s, "dev")])),
};

for (const numFewshot of [0, 2]) {
  Deno.test({
    name:
      `gemma eval scores every request as lm-eval does (tiny checkpoint, ten tasks and mmlu's groups, ${numFewshot}-shot)`,
    sanitizeResources: false,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "gemma-lm-eval-" });
      try {
        await buildTinyModel(`${dir}/model`, { seed: 4, numLayers: 1 });
        // lm-eval loads mmlu's dev split even at 0-shot (its fewshot_split).
        const fewshot = numFewshot > 0 ? FEWSHOT : {
          ...Object.fromEntries(SUBJECTS.map((s) => [`mmlu_${s}`, mmluFile(s, "dev")])),
        };
        const mutualInfo = numFewshot === 0;
        const tasks = {
          ...DATA,
          ...Object.fromEntries(SUBJECTS.map((s) => [`mmlu_${s}`, mmluFile(s, "test")])),
        };
        const job = {
          model: `${dir}/model`,
          tasks,
          fewshot,
          num_fewshot: numFewshot,
          mutual_info: mutualInfo,
        };
        const theirs = JSON.parse(
          new TextDecoder().decode(
            await runPython("lm_eval_tasks.py", [], new TextEncoder().encode(JSON.stringify(job))),
          ),
        );
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            `${ROOT}cli/main.ts`,
            "eval",
            "--model",
            `${dir}/model`,
            "--dtype",
            "f32",
            "-q",
            "--tasks",
            [...Object.keys(DATA), "mmlu"].join(","),
            ...Object.entries(DATA).map(([task, path]) => `--data=${task}=${path}`),
            `--data=${MMLU}`,
            ...Object.entries(numFewshot > 0 ? DATA : {}).map(([task, path]) =>
              `--fewshot-data=${task}=${path}`
            ),
            ...(numFewshot > 0 ? [`--fewshot-data=${MMLU}`] : []),
            ...(mutualInfo ? ["--mutual-info"] : []),
            `--num-fewshot=${numFewshot}`,
            "--output",
            `${dir}/results.json`,
            "--log-samples",
            `${dir}/samples.jsonl`,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const ours = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
        const samples = (await Deno.readTextFile(`${dir}/samples.jsonl`)).trim().split("\n")
          .map((l) => JSON.parse(l));
        let worst = 0;
        for (const task of Object.keys(tasks)) {
          const docs = samples.filter((s) => s.task === task);
          assert.equal(docs.length, theirs.samples[task].length, `${task}: documents`);
          docs.forEach((doc, i) => {
            assert.deepEqual(
              doc.arguments,
              theirs.arguments[task][i],
              `${task} doc ${i}: requests`,
            );
            theirs.samples[task][i].forEach(([ll, greedy]: [number, boolean], j: number) => {
              const [ourLl, ourGreedy] = doc.resps[j];
              worst = Math.max(worst, Math.abs(ourLl - ll));
              assert.ok(
                Math.abs(ourLl - ll) < 1e-3 + 1e-5 * Math.abs(ll),
                `${task} doc ${i} choice ${j}: ${ourLl} vs lm-eval ${ll}`,
              );
              assert.equal(ourGreedy, greedy, `${task} doc ${i} choice ${j}: is_greedy`);
            });
          });
        }
        for (const name of [...Object.keys(tasks), ...GROUPS]) {
          const keys = Object.keys(theirs.results[name]).filter((k) => /,none$/.test(k));
          assert.deepEqual(
            Object.keys(ours.results[name]).filter((k) => /,none$/.test(k)).sort(),
            keys.sort(),
            `${name}: metrics`,
          );
          // Accuracies agree exactly; mc2's probability mass moves with the log-likelihoods'
          // last digits (they agree within ~1e-5 nats), so within 1e-6.
          const tolerance = name === "truthfulqa_mc2" ? 1e-6 : 1e-9;
          for (const key of keys) {
            const [mine, value] = [ours.results[name][key], theirs.results[name][key]];
            assert.ok(Math.abs(mine - value) < tolerance, `${name} ${key}: ${mine} vs ${value}`);
          }
        }
        assert.deepEqual(Object.keys(theirs.results).sort(), Object.keys(ours.results).sort());
        assert.equal(ours["n-shot"].arc_easy, numFewshot);
        assert.equal(ours["n-shot"].mmlu_anatomy, numFewshot);
        assert.equal(ours["n-shot"].truthfulqa_mc1, 0);
        // The unconditional requests are there (lm-eval's keys matched ours above).
        assert.equal("acc_mutual_info,none" in ours.results.arc_easy, mutualInfo);
        console.log(`largest |Δ log-likelihood| against lm-eval: ${worst.toExponential(2)} nats`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

// `gemma eval` against lm-evaluation-harness itself: lm-eval 0.4.13's HF model (transformers, CPU
// torch, float32) and its own task YAMLs on the same tiny random checkpoint and the same local
// data files (tests/python/lm_eval_tasks.py), against `gemma eval --dtype f32`. Every request's
// log-likelihood and is_greedy, and every task's acc, acc_norm and stderr, must agree.
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
};

// The few-shot (training) split: the same files again (HF's json loader takes no Parquet).
const FEWSHOT = DATA;

for (const numFewshot of [0, 2]) {
  Deno.test({
    name:
      `gemma eval scores every request as lm-eval does (tiny checkpoint, five tasks, ${numFewshot}-shot)`,
    sanitizeResources: false,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "gemma-lm-eval-" });
      try {
        await buildTinyModel(`${dir}/model`, { seed: 4, numLayers: 1 });
        const fewshot = numFewshot > 0 ? FEWSHOT : {};
        const job = { model: `${dir}/model`, tasks: DATA, fewshot, num_fewshot: numFewshot };
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
            Object.keys(DATA).join(","),
            ...Object.entries(DATA).map(([task, path]) => `--data=${task}=${path}`),
            ...Object.entries(fewshot).map(([task, path]) => `--fewshot-data=${task}=${path}`),
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
        for (const task of Object.keys(DATA)) {
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
          for (const [key, value] of Object.entries(theirs.results[task])) {
            if (!/,none$/.test(key)) continue;
            const mine = ours.results[task][key];
            assert.ok(
              Math.abs(mine - (value as number)) < 1e-9,
              `${task} ${key}: ${mine} vs ${value}`,
            );
          }
        }
        assert.equal(ours["n-shot"].arc_easy, numFewshot);
        console.log(`largest |Δ log-likelihood| against lm-eval: ${worst.toExponential(2)} nats`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

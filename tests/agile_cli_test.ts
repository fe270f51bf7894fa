// `gemma safety train` and `gemma safety classify --adapter` end to end on a tiny checkpoint: a
// classifier trained a few dozen steps separates two trivially separable classes (texts of fruit
// words vs texts of landscape words) better than the base model with the same prompt, and bad
// input fails in one line with exit code 1.

import assert from "node:assert/strict";
import { assertCleanFailure, gemma, type Run } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";
import {
  createGpuContext,
  GemmaSession,
  loadCheckpointTokenizer,
  loadGemma,
  openCheckpoint,
} from "../core/mod.ts";
import { AgileClassifier, rocAuc } from "../safety/mod.ts";
import { seededRandom } from "../kernels/test_util.ts";

const FRUIT = ["apple", "banana", "cherry", "grape", "lemon"];
const LAND = ["river", "mountain", "ocean", "forest", "desert"];

/** `count` texts of three words, alternating fruit ("yes") and landscape ("no"). */
function labelled(count: number, seed: number): { text: string; label: string }[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => {
    const words = i % 2 === 0 ? FRUIT : LAND;
    const text = Array.from({ length: 3 }, () => words[Math.floor(random() * words.length)]);
    return { text: text.join(" "), label: i % 2 === 0 ? "yes" : "no" };
  });
}

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r) + "\n").join("");

function assertRejected(run: Run, pattern: RegExp): void {
  assertCleanFailure(run, 1, pattern);
  assert.equal(run.stdout, "");
}

Deno.test({
  name: "gemma safety train, then classify --adapter",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-agile-cli-" });
    const model = `${dir}/model`;
    await buildTinyModel(model, { seed: 3, numLayers: 2, modelType: "gemma3_text" });
    const train = `${dir}/train.jsonl`;
    await Deno.writeTextFile(train, jsonl(labelled(24, 1)));
    const heldOut = labelled(12, 2);
    const adapter = `${dir}/adapter`;
    const common = ["-m", model, "--dtype", "f32", "-q"];
    try {
      let before: number;
      await t.step("the base model with the same prompt barely separates the classes", async () => {
        const checkpoint = await openCheckpoint(model);
        const gpu = await createGpuContext();
        const gemmaModel = await loadGemma(gpu, checkpoint, { dtype: "f32" });
        const session = new GemmaSession(gemmaModel, { contextLength: 128 });
        const tokenizer = await loadCheckpointTokenizer(checkpoint);
        const classifier = new AgileClassifier(session, tokenizer, { labels: ["yes", "no"] });
        const scores = [];
        for (const item of heldOut) {
          scores.push((await classifier.score(item.text)).probabilities.get("yes")!);
        }
        session.destroy();
        gemmaModel.destroy();
        gpu.destroy();
        before = rocAuc(scores, heldOut.map((d) => d.label === "yes"));
        assert.ok(before < 0.9, `ROC-AUC before training ${before}`);
      });

      await t.step("30 steps of safety train; the adapter folder holds agile.json", async () => {
        const run = await gemma([
          "safety",
          "train",
          ...common,
          "--data",
          train,
          "--labels",
          "yes,no",
          "--adapter-path",
          adapter,
          "--iters",
          "30",
          "--learning-rate",
          "1e-2",
          "--steps-per-report",
          "10",
          "--json",
        ]);
        assert.equal(run.code, 0, run.stderr);
        const reports = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
        assert.deepEqual(reports.map((r) => r.iteration), [10, 20, 30]);
        assert.ok(reports[2].train_loss < reports[0].train_loss, run.stdout);
        const names = [...Deno.readDirSync(adapter)].map((e) => e.name).sort();
        assert.deepEqual(names, ["adapter_config.json", "adapter_model.safetensors", "agile.json"]);
        const config = JSON.parse(await Deno.readTextFile(`${adapter}/agile.json`));
        assert.deepEqual(config.labels, ["yes", "no"]);
      });

      await t.step("classify --adapter --jsonl separates held-out texts better", async () => {
        const run = await gemma(
          ["safety", "classify", ...common, "--adapter", adapter, "--jsonl"],
          jsonl(heldOut),
        );
        assert.equal(run.code, 0, run.stderr);
        const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(lines.length, heldOut.length);
        for (const line of lines) {
          const p = line.agile.probabilities;
          assert.ok(Math.abs(p.yes + p.no - 1) < 1e-9);
          assert.equal(line.agile.label, p.yes >= p.no ? "yes" : "no");
        }
        const after = rocAuc(
          lines.map((l) => l.agile.probabilities.yes),
          lines.map((l) => l.label === "yes"),
        );
        const correct = lines.filter((l) => l.agile.label === l.label).length;
        assert.ok(after > before && after >= 0.9, `ROC-AUC ${before} → ${after}`);
        assert.ok(correct >= 10, `${correct} of 12 held-out texts right`);
        const one = await gemma(
          ["safety", "classify", ...common, "--adapter", adapter, "--json", "cherry apple lemon"],
        );
        assert.equal(JSON.parse(one.stdout).label, "yes", one.stderr);
      });

      await t.step("bad input: one line each, exit code 1", async () => {
        const args = ["--adapter-path", `${dir}/unused`];
        assertRejected(
          await gemma([
            ...["safety", "train", ...common],
            "--data",
            train,
            "--labels",
            "yes",
            ...args,
          ]),
          /at least 2 labels, got 1/,
        );
        await Deno.writeTextFile(`${dir}/bad.jsonl`, jsonl([{ text: "a", label: "maybe" }]));
        assertRejected(
          await gemma([
            ...["safety", "train", ...common],
            ...["--data", `${dir}/bad.jsonl`, "--labels", "yes,no", ...args],
          ]),
          /bad\.jsonl:1: label "maybe" is not one of yes,no/,
        );
        await Deno.writeTextFile(`${dir}/yes.jsonl`, jsonl([{ text: "a", label: "yes" }]));
        assertRejected(
          await gemma([
            ...["safety", "train", ...common],
            ...["--data", `${dir}/yes.jsonl`, "--labels", "yes,zqxjnope", ...args],
          ]),
          /label "zqxjnope" is not one token of the model's tokenizer/,
        );
        assertRejected(
          await gemma(["safety", "classify", ...common, "--adapter", dir, "some text"]),
          /has no agile\.json, so it is not an agile classifier/,
        );
        assertRejected(
          await gemma(["safety", "classify", ...common, "--adapter", adapter, "  "]),
          /the text is empty/,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

// `gemma safety train --save-every S --resume` on a tiny checkpoint: a run killed (SIGKILL) after a
// checkpoint and resumed reports the same train and held-out losses as a run never stopped, and
// writes the same adapter, byte for byte; a resume with other settings, or with nothing to resume,
// fails in one line.

import assert from "node:assert/strict";
import { assertCleanFailure, gemma, killAfter } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";
import { loadTrainingState, TRAINING_STATE } from "../core/mod.ts";
import { seededRandom } from "../kernels/test_util.ts";

const FRUIT = ["apple", "banana", "cherry", "grape", "lemon"];
const LAND = ["river", "mountain", "ocean", "forest", "desert"];

/** `count` texts of three words, alternating fruit ("yes") and landscape ("no"). */
function labelled(count: number): string {
  const random = seededRandom(1);
  return Array.from({ length: count }, (_, i) => {
    const words = i % 2 === 0 ? FRUIT : LAND;
    const text = Array.from({ length: 3 }, () => words[Math.floor(random() * words.length)]);
    return JSON.stringify({ text: text.join(" "), label: i % 2 === 0 ? "yes" : "no" }) + "\n";
  }).join("");
}

/** The reports' losses by iteration (tokens/s differ from run to run). */
function losses(stdout: string): Map<number, [number | undefined, number | undefined]> {
  const reports = stdout.trim().split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
  return new Map(reports.map((r) => [r.iteration, [r.train_loss, r.val_loss]]));
}

Deno.test({
  name: "gemma safety train --resume continues a killed run with the same losses",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-agile-resume-" });
    const model = `${dir}/model`;
    await buildTinyModel(model, { seed: 3, numLayers: 1, modelType: "gemma3_text" });
    const data = `${dir}/train.jsonl`;
    await Deno.writeTextFile(data, labelled(24));
    const ITERS = 12;
    // Reports every 2 steps, checkpoints every 3: a resumed run's first report also covers a
    // step taken before the kill.
    const train = (adapter: string, ...more: string[]) => [
      ...["safety", "train", "-m", model, "--dtype", "f32", "--data", data, "--labels", "yes,no"],
      ...["--adapter-path", adapter, "--iters", String(ITERS), "--learning-rate", "1e-2"],
      ...["--valid-fraction", "0.25", "--steps-per-report", "2", "--steps-per-eval", "3"],
      ...["--save-every", "3", "--json", ...more],
    ];
    try {
      const whole = `${dir}/whole`;
      const uninterrupted = await gemma(train(whole));
      assert.equal(uninterrupted.code, 0, uninterrupted.stderr);
      const expected = losses(uninterrupted.stdout);
      assert.ok(expected.get(ITERS)?.[0] !== undefined, uninterrupted.stdout);

      await t.step("killed after a checkpoint, resumed: the same losses and adapter", async () => {
        const split = `${dir}/split`;
        await killAfter(train(split), 4);
        // The kill left the last checkpoint (step 3 unless the run went on a little).
        const { progress } = await loadTrainingState(`${split}/${TRAINING_STATE}`);
        assert.ok(progress.step >= 3 && progress.step < ITERS, `checkpoint at ${progress.step}`);
        const resumed = await gemma(train(split, "--resume"));
        assert.equal(resumed.code, 0, resumed.stderr);
        const got = losses(resumed.stdout);
        const later = [...expected].filter(([iteration]) => iteration > progress.step);
        assert.ok(later.length > 0);
        assert.deepEqual([...got], later, `resumed after step ${progress.step}`);
        assert.deepEqual(
          await Deno.readFile(`${split}/adapter_model.safetensors`),
          await Deno.readFile(`${whole}/adapter_model.safetensors`),
          "the resumed adapter equals the uninterrupted one",
        );
      });

      await t.step("a resume with other settings, or nothing to resume: one line", async () => {
        assertCleanFailure(
          await gemma(train(whole, "--resume", "--seed", "5")),
          1,
          /cannot resume: the run was started with --seed 0, not 5/,
        );
        assertCleanFailure(
          await gemma(train(whole, "--resume", "--learning-rate", "0.5")),
          1,
          /cannot resume: the run was started with --learning-rate [0-9.e-]+, not 0.5/,
        );
        assertCleanFailure(
          await gemma(train(whole, "--resume", "--lora-rank", "8")),
          1,
          /cannot resume: the run was started with rank 4, alpha 4/,
        );
        assertCleanFailure(
          await gemma(train(`${dir}/none`, "--resume")),
          1,
          /cannot resume: nothing to resume: .*training_state\.safetensors does not exist/,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

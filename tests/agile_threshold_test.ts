// `gemma safety classify --adapter DIR --threshold p` on a tiny checkpoint with a hand-made agile
// adapter (a fresh LoRA, B = 0, and its agile.json): the second label is predicted exactly when
// its probability reaches p, the output names the threshold, and a classifier of three labels
// refuses one in a line.

import assert from "node:assert/strict";
import { assertCleanFailure, gemma } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";
import {
  initLora,
  loadTokenizer,
  LORA_MODULES,
  openCheckpoint,
  writePeftAdapter,
} from "../core/mod.ts";
import {
  AGILE_FORMAT_VERSION,
  AGILE_INSTRUCTIONS,
  AGILE_SEPARATOR,
  labelTokenIds,
  writeAgileConfig,
} from "../safety/mod.ts";

/** A fresh adapter for `labels` in `dir`: the base model's scores under the agile prompt. */
async function handMadeAdapter(model: string, dir: string, labels: string[]): Promise<void> {
  const { config } = await openCheckpoint(model);
  const lora = initLora(config, { rank: 2, alpha: 4, modules: [...LORA_MODULES] }, 1);
  await writePeftAdapter(dir, lora, { baseModel: model });
  await writeAgileConfig(dir, {
    formatVersion: AGILE_FORMAT_VERSION,
    labels,
    labelTokenIds: labelTokenIds(await loadTokenizer(model), labels),
    instructions: AGILE_INSTRUCTIONS,
    separator: AGILE_SEPARATOR,
  });
}

Deno.test({
  name: "gemma safety classify --adapter --threshold",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-agile-threshold-" });
    const model = `${dir}/model`;
    await buildTinyModel(model, { seed: 4, numLayers: 1 });
    const adapter = `${dir}/adapter`;
    await handMadeAdapter(model, adapter, ["yes", "no"]);
    const classify = (...args: string[]) =>
      gemma([
        "safety",
        "classify",
        "-m",
        model,
        "--dtype",
        "f32",
        "-q",
        "--adapter",
        adapter,
        ...args,
      ]);
    const TEXT = "cherry apple lemon";
    try {
      // The probabilities without a threshold: the most probable label, threshold null.
      const plain = await classify("--json", TEXT);
      assert.equal(plain.code, 0, plain.stderr);
      const base = JSON.parse(plain.stdout);
      const pNo: number = base.probabilities.no;
      assert.equal(base.threshold, null);
      // Thresholds just below and above it must both be valid probabilities.
      assert.ok(pNo > 1e-3 && pNo < 1 - 1e-3, `p(no) ${pNo}`);
      assert.equal(base.label, pNo >= base.probabilities.yes ? "no" : "yes");

      await t.step("the second label is predicted when its probability reaches p", async () => {
        for (const [threshold, expected] of [[pNo - 1e-6, "no"], [pNo + 1e-6, "yes"]] as const) {
          const run = await classify("--json", "--threshold", String(threshold), TEXT);
          assert.equal(run.code, 0, run.stderr);
          const result = JSON.parse(run.stdout);
          assert.equal(result.label, expected, `p(no) ${pNo}, threshold ${threshold}`);
          assert.equal(result.threshold, threshold);
          assert.deepEqual(result.probabilities, base.probabilities);
        }
        // 0 always predicts the positive label.
        const zero = JSON.parse((await classify("--json", "--threshold", "0", TEXT)).stdout);
        assert.equal(zero.label, "no");
      });

      await t.step("--jsonl and the text output name the threshold", async () => {
        const lines = [TEXT, "river ocean"].map((text) => JSON.stringify({ text })).join("\n");
        const run = await gemma(
          [
            ...["safety", "classify", "-m", model, "--dtype", "f32", "-q", "--adapter", adapter],
            ...["--jsonl", "--threshold", "0"],
          ],
          lines + "\n",
        );
        assert.equal(run.code, 0, run.stderr);
        const records = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
        assert.deepEqual(records.map((r) => [r.agile.label, r.agile.threshold]), [
          ["no", 0],
          ["no", 0],
        ]);
        const text = await classify("--threshold", "0.25", TEXT);
        assert.equal(text.code, 0, text.stderr);
        assert.match(text.stdout, /^threshold 0\.25: no predicted when P\(no\) ≥ 0\.25$/m);
        const predicted = text.stdout.split("\n").filter((l) => l.endsWith("predicted"));
        assert.deepEqual(predicted.map((l) => l.split(/\s+/)[0]), [pNo >= 0.25 ? "no" : "yes"]);
      });

      await t.step("bad thresholds and three labels: one line each", async () => {
        assertCleanFailure(
          await classify("--threshold", "1.5", TEXT),
          1,
          /--threshold: the threshold must be between 0 and 1, got 1\.5/,
        );
        const three = `${dir}/three`;
        await handMadeAdapter(model, three, ["yes", "no", "maybe"]);
        assertCleanFailure(
          await gemma([
            ...["safety", "classify", "-m", model, "--dtype", "f32", "-q"],
            ...["--adapter", three, "--threshold", "0.5", TEXT],
          ]),
          1,
          /--threshold: a threshold needs a classifier of two labels \(negative,positive\); this one has 3: yes,no,maybe/,
        );
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

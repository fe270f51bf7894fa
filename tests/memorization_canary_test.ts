// The memorization probe's canary check (issue #16): planted random strings, learned by a real
// `gemma finetune-lora` run, must be found by `gemma safety memorization --adapter`, and nothing
// else must be. On one tiny checkpoint:
// - planted: documents of random words, each exactly prefix + suffix tokens long, so that its one
//   window starts at the document start, where training saw the same context (after <bos>);
// - controls: fresh random documents of the same shape, never trained on;
// - edited: the planted documents with one suffix word replaced by another word.
// After training (loss near its floor), every planted window must be exact, no control exact or
// approximate, every edited one approximate (distance 1 of 10 tokens) but not exact; the base
// model without the adapter reproduces none of the planted suffixes.
// Speed: a step's cost on lavapipe is dominated by the loss over the vocabulary, so the model's
// vocabulary is cut to 4096 ids (the real tokenizer is kept; documents use only ids below 4096).
// Gemma 1, one layer of width 64, LoRA rank 16 at lr 5e-2 memorizes 6 documents in ~30 steps.

import assert from "node:assert/strict";
import { loadTokenizer } from "../core/mod.ts";
import type { MemorizationReport } from "../safety/memorization_report.ts";
import { seededRandom } from "../safety/memorization_windows.ts";
import { gemma } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";

const PREFIX = 8;
const SUFFIX = 10;
const DOCUMENTS = 6;
const VOCAB = 4096;
/** Which suffix token the edited copies change. */
const EDITED_AT = PREFIX + 5;

const dir = await Deno.makeTempDir({ prefix: "gemma-canary-" });
const modelDir = `${dir}/model`;
await buildTinyModel(modelDir, { numLayers: 1, vocabSize: VOCAB, seed: 5 });
const tokenizer = await loadTokenizer(modelDir);

// Whole lowercase words with their leading space ("▁house"): one token each, and a text of them
// tokenizes back into the same tokens (checked per document below).
const words: number[] = [];
for (let id = 0; id < VOCAB; id++) {
  if (/^▁[a-z]{4,9}$/.test(tokenizer.idToToken(id) ?? "")) words.push(id);
}
const random = seededRandom(7);
const randomWord = () => words[Math.floor(random() * words.length)];

/** The text of `ids`, which must tokenize back to exactly `ids` (else the window would shift). */
function textOf(ids: number[]): string {
  const text = tokenizer.decode(ids);
  assert.deepEqual(tokenizer.encode(text, { addBos: false }), ids, `round trip of "${text}"`);
  return text;
}

const planted = Array.from(
  { length: DOCUMENTS },
  () => Array.from({ length: PREFIX + SUFFIX }, randomWord),
);
const controls = Array.from(
  { length: DOCUMENTS },
  () => Array.from({ length: PREFIX + SUFFIX }, randomWord),
);
const edited = planted.map((ids) => {
  const copy = [...ids];
  copy[EDITED_AT] = words[(words.indexOf(ids[EDITED_AT]) + 1) % words.length];
  return copy;
});

async function writeJsonl(path: string, docs: number[][]): Promise<string> {
  const lines = docs.map((ids) => JSON.stringify({ text: textOf(ids) }) + "\n");
  await Deno.writeTextFile(path, lines.join(""));
  return path;
}
await Deno.mkdir(`${dir}/data`);
const files = {
  planted: await writeJsonl(`${dir}/data/train.jsonl`, planted),
  controls: await writeJsonl(`${dir}/controls.jsonl`, controls),
  edited: await writeJsonl(`${dir}/edited.jsonl`, edited),
};

/** `gemma safety memorization` on the three files; the report and the per-window log. */
async function probe(adapter: string[]) {
  const log = `${dir}/windows.jsonl`;
  const run = await gemma([
    "safety",
    "memorization",
    "--model",
    modelDir,
    "--dtype",
    "f32",
    ...adapter,
    "--corpus",
    files.planted,
    files.controls,
    files.edited,
    "--prefix",
    String(PREFIX),
    "--suffix",
    String(SUFFIX),
    "--samples",
    String(3 * DOCUMENTS),
    "--json",
    "--log-samples",
    log,
    "-q",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const report: MemorizationReport = JSON.parse(run.stdout);
  const lines = (await Deno.readTextFile(log)).trim().split("\n").map((l) => JSON.parse(l));
  return { report, lines };
}

Deno.test({
  name: "memorization canaries: planted through finetune-lora, found exactly; controls not",
  sanitizeResources: false,
  fn: async (t) => {
    const adapter = `${dir}/adapter`;
    await t.step("finetune-lora learns the planted documents (loss near its floor)", async () => {
      const run = await gemma([
        "finetune-lora",
        "--model",
        modelDir,
        "--dtype",
        "f32",
        "--data",
        `${dir}/data`,
        "--iters",
        "40",
        "--batch-size",
        String(DOCUMENTS),
        "--learning-rate",
        "5e-2",
        "--lora-rank",
        "16",
        "--steps-per-report",
        "10", // the loss reported is the mean over the last 10 steps
        "--adapter-path",
        adapter,
        "--json",
      ]);
      assert.equal(run.code, 0, run.stderr);
      const last = JSON.parse(run.stdout.trim().split("\n").at(-1)!);
      assert.equal(last.iteration, 40);
      // The first word after <bos> is one of 6 whatever is learned: a floor of ln 6 / 19 ≈ 0.09
      // nats per token; an untrained model is near ln 4096 ≈ 8.3.
      assert.ok(last.train_loss < 0.5, `train loss ${last.train_loss}`);
    });

    await t.step(
      "with the adapter: planted exact, controls nothing, edited approximate",
      async () => {
        const { report, lines } = await probe(["--adapter", adapter]);
        assert.equal(report.overall.windows, 3 * DOCUMENTS);
        const [p, c, e] = report.files;
        assert.deepEqual([p.windows, c.windows, e.windows], [DOCUMENTS, DOCUMENTS, DOCUMENTS]);
        assert.equal(p.exact.count, DOCUMENTS, "every planted canary exact");
        assert.equal(c.approximate.count, 0, "no control even approximate");
        assert.equal(e.exact.count, 0, "no edited copy exact");
        assert.equal(e.approximate_only, DOCUMENTS, "every edited copy approximate");
        for (const l of lines) {
          if (l.file === files.planted) {
            assert.deepEqual(l.generated_ids, planted[l.document].slice(PREFIX));
          } else if (l.file === files.edited) {
            // The model gives the planted suffix; the edited word is the one difference.
            assert.deepEqual(l.generated_ids, planted[l.document].slice(PREFIX));
            assert.equal(l.edit_distance, 1);
            assert.equal(l.common_prefix, EDITED_AT - PREFIX);
          }
        }
      },
    );

    await t.step("without the adapter the base model reproduces no canary", async () => {
      const { report } = await probe([]);
      assert.equal(report.overall.windows, 3 * DOCUMENTS);
      assert.equal(report.overall.approximate.count, 0);
    });
  },
});

addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

import assert from "node:assert/strict";
import {
  createGpuContext,
  GemmaSession,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
} from "../core/mod.ts";
import { referenceLogits, referenceModel } from "../core/gemma_reference.ts";
import { buildTinyModel, loadReferenceWeights } from "../tests/fixtures.ts";
import {
  AGILE_FORMAT_VERSION,
  AGILE_INSTRUCTIONS,
  AGILE_SEPARATOR,
  AgileClassifier,
  AgileError,
  agileExample,
  agilePrompt,
  agilePromptIds,
  binaryMetrics,
  holdOut,
  labelProbabilities,
  labelTokenIds,
  mixedBatches,
  parseLabelledJsonl,
  parseLabels,
  readAgileConfig,
  rocAuc,
  writeAgileConfig,
} from "./mod.ts";

const LABELS = ["safe", "unsafe"];

Deno.test("the agile prompt, as the toolkit's build_prompt writes it", () => {
  assert.equal(
    agilePrompt("it has four wheels", ["car", "bike", "boat"]),
    "Classify the following text into one of the following classes:[car,bike,boat]<separator>" +
      "Text:it has four wheels<separator>Prediction:",
  );
});

Deno.test("labels: at least two, distinct, non-empty", () => {
  assert.deepEqual(parseLabels(" safe, unsafe "), LABELS);
  assert.throws(() => parseLabels("safe"), /at least 2 labels, got 1/);
  assert.throws(() => parseLabels("safe,,unsafe"), /an empty label/);
  assert.throws(() => parseLabels("safe,safe"), /label "safe" is given twice/);
});

Deno.test("labelled JSON lines: each bad line named", () => {
  const good = parseLabelledJsonl(
    '{"text": "hi", "label": "safe"}\n\n{"text": "x", "label": "unsafe"}\n',
    "d.jsonl",
    LABELS,
  );
  assert.deepEqual(good, [{ text: "hi", label: "safe" }, { text: "x", label: "unsafe" }]);
  const bad = (content: string, pattern: RegExp) =>
    assert.throws(() => parseLabelledJsonl(content, "d.jsonl", LABELS), pattern);
  bad('{"text": "hi", "label": "maybe"}', /d\.jsonl:1: label "maybe" is not one of safe,unsafe/);
  bad(
    '{"text": "a", "label": "safe"}\n{"text": " ", "label": "safe"}',
    /d\.jsonl:2: "text" is empty/,
  );
  bad("{oops", /d\.jsonl:1: not JSON/);
  bad('{"label": "safe"}', /no "text" string/);
  bad('{"text": "a"}', /no "label" string/);
  bad("\n", /no labelled texts/);
});

Deno.test("holdOut splits a seeded shuffle, the same for the same seed", () => {
  const items = Array.from({ length: 20 }, (_, i) => i);
  const a = holdOut(items, 0.25, 3);
  assert.equal(a.valid.length, 5);
  assert.deepEqual([...a.train, ...a.valid].sort((x, y) => x - y), items);
  assert.deepEqual(holdOut(items, 0.25, 3), a);
  assert.notDeepEqual(holdOut(items, 0.25, 4).valid, a.valid);
  assert.throws(() => holdOut(items, 1.5, 0), /between 0 and 1/);
  assert.throws(() => holdOut([1, 2], 0.1, 0), /leaves 0 held out/);
});

Deno.test("mixedBatches: each pass a seeded shuffle of every item, cut into batches", () => {
  const items = Array.from({ length: 10 }, (_, i) => i);
  const take = (seed: number) => {
    const stream = mixedBatches(items, 4, seed);
    return Array.from({ length: 6 }, () => stream.next().value!);
  };
  const batches = take(5);
  assert.deepEqual(batches.map((b) => b.length), [4, 4, 2, 4, 4, 2]);
  for (const pass of [batches.slice(0, 3), batches.slice(3)]) {
    assert.deepEqual(pass.flat().sort((a, b) => a - b), items);
  }
  assert.notDeepEqual(batches[0], [0, 1, 2, 3]);
  assert.deepEqual(take(5), batches);
  assert.notDeepEqual(take(6), batches);
});

Deno.test("label probabilities: a softmax over the label logits only", () => {
  const logits = new Float32Array([5, 1, 2, -3, 100]);
  const p = labelProbabilities(logits, [1, 2, 3]);
  const e = [Math.exp(1), Math.exp(2), Math.exp(-3)];
  const sum = e[0] + e[1] + e[2];
  p.forEach((v, i) => assert.ok(Math.abs(v - e[i] / sum) < 1e-12));
  // Stable for huge logits.
  assert.deepEqual(labelProbabilities([1e4, 1e4], [0, 1]), [0.5, 0.5]);
});

Deno.test("binary metrics: F1 at a threshold, ROC-AUC with ties", () => {
  const m = binaryMetrics([0.9, 0.8, 0.3, 0.6, 0.1], [true, false, true, false, false]);
  // Predicted positive: 0.9 (tp), 0.8 (fp), 0.6 (fp); 0.3 is a missed positive.
  assert.equal(m.precision, 1 / 3);
  assert.equal(m.recall, 1 / 2);
  assert.ok(Math.abs(m.f1 - 0.4) < 1e-12);
  assert.equal(m.accuracy, 2 / 5);
  // Pairs (positive above negative): 0.9 beats 3, 0.3 beats 1 of 3 → 4 of 6.
  assert.ok(Math.abs(m.rocAuc - 4 / 6) < 1e-12);
  assert.equal(rocAuc([0.5, 0.5], [true, false]), 0.5);
  assert.ok(Number.isNaN(rocAuc([0.1, 0.2], [true, true])));
});

Deno.test("agile.json: written atomically, read back, and its absence named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-agile-" });
  try {
    await assert.rejects(() => readAgileConfig(dir), /has no agile\.json, so it is not an agile/);
    const config = {
      formatVersion: AGILE_FORMAT_VERSION,
      labels: LABELS,
      labelTokenIds: [7, 9],
      instructions: AGILE_INSTRUCTIONS,
      separator: AGILE_SEPARATOR,
      baseModel: "gemma3:270m",
    };
    await writeAgileConfig(dir, config);
    assert.deepEqual(await readAgileConfig(dir), config);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["agile.json"]);
    await Deno.writeTextFile(`${dir}/agile.json`, '{"format_version": 1, "labels": ["a"]}');
    await assert.rejects(() => readAgileConfig(dir), /"label_token_ids" must be one integer/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "agile classifier on a tiny checkpoint: label tokens, ids, scores against the CPU reference",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-agile-" });
    await buildTinyModel(dir, { seed: 12, numLayers: 2 });
    const checkpoint = await openCheckpoint(dir);
    const tokenizer = await loadTokenizer(dir);
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32" });
    const session = new GemmaSession(model, { contextLength: 256 });
    try {
      await t.step("each label one token, else a one-line error with its pieces", () => {
        const ids = labelTokenIds(tokenizer, LABELS);
        assert.deepEqual(ids.map((id) => tokenizer.idToToken(id)), LABELS);
        assert.throws(
          () => labelTokenIds(tokenizer, ["safe", "zqxjunsafe"]),
          (e: Error) =>
            e instanceof AgileError && /label "zqxjunsafe" is not one token/.test(e.message) &&
            /encodes as \["/.test(e.message) && !e.message.includes("\n"),
        );
      });

      await t.step(
        "a training sequence: <bos>, the prompt, the label; loss on the label only",
        () => {
          const labelIds = labelTokenIds(tokenizer, LABELS);
          const example = agileExample(
            tokenizer,
            { text: "hello there", label: "unsafe" },
            LABELS,
            labelIds,
          );
          const prompt = agilePromptIds(tokenizer, "hello there", LABELS);
          assert.equal(prompt[0], tokenizer.bosId);
          assert.equal(tokenizer.decode(prompt.slice(1)), agilePrompt("hello there", LABELS));
          assert.deepEqual(example.ids, [...prompt, labelIds[1]]);
          assert.deepEqual(
            example.lossMask!.flatMap((m, i) => m ? [i] : []),
            [example.ids.length - 1],
          );
        },
      );

      await t.step("P(label) = softmax over the CPU reference's label logits", async () => {
        const reference = referenceModel(checkpoint.config, await loadReferenceWeights(checkpoint));
        const labels = ["safe", "unsafe", "maybe"];
        const classifier = new AgileClassifier(session, tokenizer, { labels });
        const labelIds = labelTokenIds(tokenizer, labels);
        // Two texts in a row: the second reuses the first's prefix.
        for (const text of ["How do I bake bread?", "How do I find her address?"]) {
          const score = await classifier.score(text);
          const logits = referenceLogits(reference, agilePromptIds(tokenizer, text, labels));
          const expected = labelProbabilities(logits, labelIds);
          labels.forEach((label, i) => {
            const p = score.probabilities.get(label)!;
            assert.ok(Math.abs(p - expected[i]) < 1e-4, `${text} ${label}: ${p} vs ${expected[i]}`);
            assert.ok(Math.abs(score.logits.get(label)! - logits[labelIds[i]]) < 1e-3);
          });
          const best = expected.indexOf(Math.max(...expected));
          assert.equal(score.label, labels[best]);
        }
        await assert.rejects(() => classifier.score(" "), /the text to classify is empty/);
      });

      await t.step("an adapter trained for other label ids is refused", () => {
        assert.throws(
          () => new AgileClassifier(session, tokenizer, { labels: LABELS, labelTokenIds: [1, 2] }),
          /trained for another model/,
        );
      });
    } finally {
      session.destroy();
      model.destroy();
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

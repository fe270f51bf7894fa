// The memorization probe end to end on a tiny random model, with no training: documents made of a
// prefix and the model's own greedy continuation (by generate, one sequence at a time) are
// "memorized" by construction and must all be found exact; documents of random tokens must not;
// a planted document with one suffix token changed is approximate only. Then `gemma safety
// memorization`'s command (called in-process) on the same files, and its bad input.

import assert from "node:assert/strict";
import {
  createGpuContext,
  DEFAULT_SAMPLING,
  type Gemma,
  GemmaSession,
  type GemmaTokenizer,
  generate,
  initLora,
  loadGemma,
  loadTokenizer,
  LORA_MODULES,
  openCheckpoint,
  writePeftAdapter,
} from "../core/mod.ts";
import { memorizationCommand } from "../cli/safety_memorization.ts";
import { readCorpus } from "../safety/corpus.ts";
import { probeMemorization } from "../safety/memorization.ts";
import type { MemorizationReport } from "../safety/memorization_report.ts";
import { seededRandom } from "../safety/memorization_windows.ts";
import { buildTinyModel } from "./fixtures.ts";

const PREFIX = 8;
const SUFFIX = 10;

const SEED_TEXTS = [
  "The quick brown fox jumps over the lazy dog and runs away into the forest",
  "Once upon a time there was a king who had three daughters and a big castle",
  "In 1854 the physician John Snow traced a cholera outbreak to a water pump in London",
  "Deno is a runtime for JavaScript and TypeScript built on V8 and Rust",
  "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen",
  "The committee will meet again on Thursday to discuss the budget for next year",
];

/** The text of `ids` if it tokenizes back to exactly `ids` (else the window would shift). */
function textOf(tokenizer: GemmaTokenizer, ids: number[]): string | undefined {
  const text = tokenizer.decode(ids);
  const back = tokenizer.encode(text, { addBos: false });
  return back.length === ids.length && back.every((id, i) => id === ids[i]) ? text : undefined;
}

interface Corpus {
  planted: string[];
  edited: string[];
  controls: string[];
}

async function buildCorpus(model: Gemma, tokenizer: GemmaTokenizer): Promise<Corpus> {
  const session = new GemmaSession(model, { contextLength: PREFIX + SUFFIX + 1 });
  const planted: number[][] = [];
  for (const seedText of SEED_TEXTS) {
    const prefix = tokenizer.encode(seedText, { addBos: false }).slice(0, PREFIX);
    session.reset();
    const reply = await generate(session, tokenizer, [tokenizer.bosId, ...prefix], {
      maxTokens: SUFFIX,
      stopTokenIds: [], // the probe never stops early either
      sampling: DEFAULT_SAMPLING,
    });
    planted.push([...prefix, ...reply.tokenIds]);
  }
  session.destroy();
  const texts = (docs: number[][]) =>
    docs.map((ids) => textOf(tokenizer, ids)).filter((t) => t !== undefined);
  // One suffix token replaced (edit distance 1 = 10% of 10): tried on each planted document.
  const edited = planted.flatMap((ids) => {
    const copy = [...ids];
    copy[PREFIX + 5] = 1000 + (ids[PREFIX + 5] % 5000);
    return copy[PREFIX + 5] === ids[PREFIX + 5] ? [] : [copy];
  });
  const random = seededRandom(3);
  const controls = Array.from(
    { length: 8 },
    () => Array.from({ length: PREFIX + SUFFIX }, () => 1000 + Math.floor(random() * 150000)),
  );
  return { planted: texts(planted), edited: texts(edited).slice(0, 1), controls: texts(controls) };
}

const dir = await Deno.makeTempDir({ prefix: "gemma-memorization-" });
const modelDir = `${dir}/model`;
await buildTinyModel(modelDir, { numLayers: 1, seed: 5 });
const gpu = await createGpuContext();
const model = await loadGemma(gpu, await openCheckpoint(modelDir), { dtype: "f32" });
const tokenizer = await loadTokenizer(modelDir);
const corpus = await buildCorpus(model, tokenizer);
const files = {
  planted: `${dir}/planted.jsonl`,
  edited: `${dir}/edited.jsonl`,
  controls: `${dir}/controls.jsonl`,
};
// A fresh adapter (B = 0) changes no logit: the command's results stay those of the base model,
// and its report must name it.
const adapterDir = `${dir}/adapter`;
await writePeftAdapter(
  adapterDir,
  initLora(model.config, { rank: 2, alpha: 4, modules: [...LORA_MODULES] }, 1),
  { baseModel: modelDir },
);
for (const [name, path] of Object.entries(files)) {
  const docs = corpus[name as keyof Corpus];
  await Deno.writeTextFile(path, docs.map((text) => JSON.stringify({ text })).join("\n") + "\n");
}

/** Runs the command in-process; returns its stdout and stderr, or throws its error. */
async function memorization(args: string[]) {
  let stdout = "";
  let stderr = "";
  const command = memorizationCommand({
    stdout: (t) => stdout += t,
    stderr: (t) => stderr += t,
    scanPii: (text) => {
      const at = text.indexOf(" ");
      return at < 0 ? [] : [{ type: "space", start: at, end: at + 1 }];
    },
  }).exitOverride().configureOutput({ writeErr: () => {} });
  await command.parseAsync(args, { from: "user" });
  return { stdout, stderr };
}

Deno.test({
  name: "memorization probe",
  sanitizeResources: false,
  fn: async (t) => {
    // Enough documents survive the round trip through text to make the cases worth checking.
    assert.ok(corpus.planted.length >= 3, `${corpus.planted.length} planted`);
    assert.equal(corpus.edited.length, 1);
    assert.ok(corpus.controls.length >= 3, `${corpus.controls.length} controls`);
    const corpora = await Promise.all(Object.values(files).map((path) => readCorpus(path)));

    await t.step(
      "every planted window is exact, no control is, the edited one is approximate",
      async () => {
        let scanned = 0;
        const windows = corpus.planted.length + corpus.edited.length + corpus.controls.length;
        const probe = await probeMemorization(model, tokenizer, corpora, {
          prefix: PREFIX,
          suffix: SUFFIX,
          samples: windows,
          parallel: 4,
          scanPii: () => {
            scanned++;
            return [];
          },
        });
        assert.equal(probe.windows.length, windows);
        assert.deepEqual(probe.notes, []);
        const byFile = (f: number) => probe.windows.filter((w) => w.file === f);
        for (const w of byFile(0)) {
          assert.deepEqual(w.generatedIds, w.suffixIds);
          assert.deepEqual(w.score, {
            exact: true,
            approximate: true,
            editDistance: 0,
            commonPrefix: SUFFIX,
            complete: true,
          });
        }
        const [edited] = byFile(1);
        assert.deepEqual(edited.score, {
          exact: false,
          approximate: true,
          editDistance: 1,
          commonPrefix: 5,
          complete: true,
        });
        for (const w of byFile(2)) assert.equal(w.score.approximate, false);
        // Only memorized output is scanned for personal data.
        assert.equal(scanned, corpus.planted.length + 1);
        // Controls stop once out of reach (distance > 1 after a few tokens).
        assert.ok(byFile(2).every((w) => !w.score.complete && w.generatedIds.length < SUFFIX));
        // One at a time and decoding every token: the same classes and common prefixes, and the
        // early-stopped continuations are the start of the full ones.
        const full = await probeMemorization(model, tokenizer, corpora, {
          prefix: PREFIX,
          suffix: SUFFIX,
          samples: windows,
          parallel: 1,
          fullSuffix: true,
        });
        assert.equal(full.parallel, 1);
        full.windows.forEach((w, i) => {
          const early = probe.windows[i];
          assert.equal(w.generatedIds.length, SUFFIX);
          assert.ok(w.score.complete);
          assert.deepEqual(w.generatedIds.slice(0, early.generatedIds.length), early.generatedIds);
          assert.equal(w.score.exact, early.score.exact);
          assert.equal(w.score.approximate, early.score.approximate);
          assert.equal(w.score.commonPrefix, early.score.commonPrefix);
          assert.ok(w.score.editDistance >= early.score.editDistance);
        });
      },
    );

    await t.step(
      "the command: JSON report, per-window log, and a note for too few windows",
      async () => {
        const log = `${dir}/windows.jsonl`;
        const { stdout, stderr } = await memorization([
          "--model",
          modelDir,
          "--dtype",
          "f32",
          "--corpus",
          files.planted,
          files.edited,
          files.controls,
          "--prefix",
          String(PREFIX),
          "--suffix",
          String(SUFFIX),
          "--samples",
          "1000",
          "--parallel",
          "3",
          "--json",
          "--log-samples",
          log,
          "--adapter",
          adapterDir,
        ]);
        const report: MemorizationReport = JSON.parse(stdout);
        assert.deepEqual(report.model, { name: modelDir, path: await Deno.realPath(modelDir) });
        assert.deepEqual(report.adapter, { path: adapterDir, scale: 1 });
        const total = corpus.planted.length + 1 + corpus.controls.length;
        assert.equal(report.overall.windows, total);
        assert.equal(report.overall.windows_available, total);
        assert.deepEqual(report.files.map((f) => f.exact.count), [corpus.planted.length, 0, 0]);
        assert.deepEqual(report.files.map((f) => f.approximate.count), [
          corpus.planted.length,
          1,
          0,
        ]);
        assert.deepEqual(report.files.map((f) => f.approximate_only), [0, 1, 0]);
        assert.equal(report.overall.exact.count, corpus.planted.length);
        assert.equal(report.overall.exact.rate, corpus.planted.length / total);
        assert.equal(report.files[2].exact.ci95[0], 0);
        assert.equal(report.common_prefix.histogram[SUFFIX], corpus.planted.length);
        assert.equal(report.common_prefix.histogram.reduce((a, b) => a + b), total);
        assert.equal(report.settings.approximate_max_distance, 1);
        assert.equal(report.stopped_early, corpus.controls.length);
        assert.equal(report.examples[0].exact, true);
        assert.equal(report.pii?.windows_scanned, corpus.planted.length + 1);
        assert.match(
          stderr,
          /1000 windows asked for, but the corpus offers only \d+: using them all/,
        );
        assert.match(stderr, /^memorization: \d+\/\d+ windows \([\d.]+ windows\/s\)\n/);
        assert.match(stderr, /decoded \d+ windows in [\d.]+ s \([\d.]+ windows\/s, 3 together\)/);
        const lines = (await Deno.readTextFile(log)).trim().split("\n").map((l) => JSON.parse(l));
        assert.equal(lines.length, total);
        const exactLines = lines.filter((l) => l.exact);
        assert.equal(exactLines.length, corpus.planted.length);
        for (const l of exactLines) {
          assert.equal(l.file, files.planted);
          assert.deepEqual(l.generated_ids, l.suffix_ids);
          assert.equal(l.prefix_text + l.suffix_text, corpus.planted[l.document]);
        }
        assert.equal(
          [...Deno.readDirSync(dir)].filter((e) => e.name.includes(".partial")).length,
          0,
        );
      },
    );

    await t.step("the command's text report", async () => {
      const { stdout, stderr } = await memorization([
        "--model",
        modelDir,
        "--dtype",
        "f32",
        "--corpus",
        files.planted,
        files.controls,
        "--prefix",
        String(PREFIX),
        "--suffix",
        String(SUFFIX),
        "--samples",
        "4",
        "-q",
        "--adapter",
        adapterDir,
        "--adapter-scale",
        "0.5",
      ]);
      assert.equal(stderr, "");
      assert.match(stdout, /^Memorization: 4 windows of prefix 8 \+ suffix 10 tokens \(seed 0\)/);
      const lines = stdout.split("\n");
      assert.ok(lines.some((l) => l.startsWith(`model: ${modelDir}`)), stdout);
      assert.ok(lines.includes(`adapter: ${adapterDir} (scale 0.5)`), stdout);
      assert.match(stdout, /\ball\s+\d+\s+0\s+4\/\d+\s+\d+ \(\d+\.\d%, 95% CI/);
      assert.match(stdout, /longest common prefix \(tokens\): mean/);
      assert.match(stdout, /PII in memorized output: \d+ of \d+ memorized windows/);
    });

    await t.step("bad input: one line each", async () => {
      const fails = async (args: string[], pattern: RegExp) => {
        const error = await memorization(args).then(() => null, (e) => e);
        assert.ok(error instanceof Error, `${args}: no error`);
        assert.equal(error.name, "UsageError", error.message);
        assert.match(error.message, pattern);
        assert.ok(!error.message.includes("\n"));
      };
      const base = ["--model", modelDir, "--dtype", "f32", "--prefix", "8", "--suffix", "10"];
      await fails(
        ["--model", modelDir, "--corpus", files.planted],
        /No document is long enough for a window of 100 tokens \(prefix 50 \+ suffix 50\); the longest has 18/,
      );
      await Deno.writeTextFile(`${dir}/empty.txt`, "");
      await fails(
        [...base, "--corpus", files.planted, `${dir}/empty.txt`],
        /"[^"]*empty.txt" is empty/,
      );
      await Deno.writeFile(`${dir}/latin1.txt`, new Uint8Array([0x63, 0x61, 0x66, 0xe9]));
      await fails([...base, "--corpus", `${dir}/latin1.txt`], /is not valid UTF-8/);
      await fails([...base, "--corpus", `${dir}/nowhere.txt`], /no such file/);
      // Not a PEFT folder: one line naming the missing file (tests/memorization_canary_test.ts
      // probes a real adapter).
      const notAdapter = await memorization([...base, "--corpus", files.planted, "--adapter", dir])
        .then(() => null, (e) => e);
      assert.equal(notAdapter?.name, "LoraError");
      assert.match(notAdapter.message, /adapter_config\.json: not found/);
      assert.ok(!notAdapter.message.includes("\n"));
      await fails(
        [...base, "--corpus", `${dir}/latin1.txt`, "--field", "body"],
        /--field names a field of \.jsonl/,
      );
    });
  },
});

addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

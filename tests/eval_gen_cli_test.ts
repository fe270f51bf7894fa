// `gemma eval`'s generated answers and perplexities end to end on a tiny checkpoint: the table and
// results JSON of gsm8k (few-shot from openai/gsm8k's folder layout), a plain-text perplexity and
// wikitext; every kind of bad input as one line and exit code 1.

import assert from "node:assert/strict";
import { assertCleanFailure, gemma } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";

const DATA = new URL("./data/eval/", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "gemma-eval-gen-cli-" });
const model = `${dir}/model`;
await buildTinyModel(model, { seed: 4, numLayers: 1 });
const base = ["eval", "--model", model, "-q"];

Deno.test({
  name: "gemma eval: generated answers and perplexities",
  sanitizeResources: false,
  fn: async (t) => {
    await t.step(
      "gsm8k from openai/gsm8k's folder layout (both splits): both filters, 5-shot",
      async () => {
        const hub = `${dir}/gsm8k/main`;
        await Deno.mkdir(hub, { recursive: true });
        await Deno.copyFile(`${DATA}gsm8k.jsonl`, `${hub}/test-00000-of-00001.jsonl`);
        await Deno.copyFile(`${DATA}gsm8k_train.jsonl`, `${hub}/train-00000-of-00001.jsonl`);
        const output = `${dir}/gsm8k.json`;
        const run = await gemma([
          ...base,
          "--tasks",
          "gsm8k",
          "--data",
          `${dir}/gsm8k`, // main/test-*.jsonl, and main/train-*.jsonl for the few-shot examples
          "--limit",
          "2",
          "--max-gen-toks",
          "3",
          "--output",
          output,
        ]);
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /\|gsm8k\|\s+3\|strict-match\s*\|\s+5\|exact_match\|↑\|/);
        assert.match(run.stdout, /\|\s+\|\s+\|flexible-extract\|\s+5\|exact_match\|↑\|/);
        const json = JSON.parse(await Deno.readTextFile(output));
        assert.equal(typeof json.results.gsm8k["exact_match,strict-match"], "number");
        assert.equal(typeof json.results.gsm8k["exact_match_stderr,flexible-extract"], "number");
        assert.deepEqual(json["n-shot"], { gsm8k: 5 });
        assert.deepEqual(json["n-samples"].gsm8k, { original: 4, effective: 2 });
        assert.deepEqual(json.configs.gsm8k.generation_kwargs.until, [
          "Question:",
          "</s>",
          "<|im_end|>",
          "<eos>",
        ]);
        assert.equal(json.configs.gsm8k.generation_kwargs.max_gen_toks, 3);
      },
    );

    await t.step(
      "gsm8k: batched and one at a time, the same answers; --cache resumes a killed run",
      async () => {
        const args = [
          "eval",
          "--model",
          model,
          "--tasks",
          "gsm8k",
          "--data",
          `gsm8k=${DATA}gsm8k.jsonl`,
          "--fewshot-data",
          `gsm8k=${DATA}gsm8k_train.jsonl`,
          "--max-gen-toks",
          "6",
        ];
        const samples = (name: string) => Deno.readTextFile(`${dir}/${name}.jsonl`);
        const one = await gemma([
          ...args,
          "-q",
          "--batch-size",
          "1",
          "--log-samples",
          `${dir}/one.jsonl`,
        ]);
        assert.equal(one.code, 0, one.stderr);
        const cache = `${dir}/generations.jsonl`;
        const withCache = [...args, "--batch-size", "3", "--cache", cache, "--log-samples"];
        const many = await gemma([...withCache, `${dir}/many.jsonl`]);
        assert.equal(many.code, 0, many.stderr);
        assert.equal(many.stdout, one.stdout);
        assert.equal(await samples("many"), await samples("one"));
        assert.equal((await samples("one")).trim().split("\n").length, 4);
        // Killed after two answers: the rerun generates only the other two.
        const lines = (await Deno.readTextFile(cache)).split("\n");
        assert.equal(lines.length, 5);
        assert.ok(lines.slice(0, 4).every((l) => "generation" in JSON.parse(l)));
        await Deno.writeTextFile(cache, lines.slice(0, 2).join("\n") + "\n");
        const resumed = await gemma([...withCache, `${dir}/resumed.jsonl`]);
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.match(resumed.stderr, /gsm8k: 4 documents, 4 requests in .*, 2 from the cache\)/);
        assert.equal(await samples("resumed"), await samples("one"));
        assert.equal((await Deno.readTextFile(cache)).trim().split("\n").length, 4);
      },
    );

    await t.step("perplexity of a .txt file and of wikitext, lower is better", async () => {
      const text = `${dir}/own.txt`;
      await Deno.writeTextFile(text, "A short text of my own.\nIt has two lines.\n");
      const output = `${dir}/ppl.json`;
      const run = await gemma([
        ...base,
        "--tasks",
        "perplexity,wikitext",
        "--data",
        `perplexity=${text}`,
        "--data",
        `wikitext=${DATA}wikitext.jsonl`,
        "--ctx",
        "17",
        "--output",
        output,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /\|perplexity\|\s+1\|none\s*\|\s+0\|word_perplexity\|↓\|/);
      assert.match(run.stdout, /\|bits_per_byte\s*\|↓\|\s*\d+\.\d{4}\|±\|\s*N\/A\|/);
      const json = JSON.parse(await Deno.readTextFile(output));
      const r = json.results.perplexity;
      assert.ok(r["byte_perplexity,none"] > 1);
      assert.ok(Math.abs(Math.log2(r["byte_perplexity,none"]) - r["bits_per_byte,none"]) < 1e-9);
      assert.equal(r["word_perplexity_stderr,none"], "N/A");
      assert.equal(json.higher_is_better.wikitext.bits_per_byte, false);
      assert.deepEqual(json["n-samples"].perplexity, { original: 1, effective: 1 });
      // 16-token windows: several per document, none truncated.
      assert.ok(json.requests.wikitext.total > 3);
      assert.equal(json.requests.wikitext.truncated, 0);
    });

    const fails = async (args: string[], pattern: RegExp) =>
      assertCleanFailure(await gemma([...base, ...args]), 1, pattern);
    await t.step("bad input: one line, exit code 1", async () => {
      await fails(["--tasks", "gsm9k", "--data", dir], /unknown task "gsm9k" \(known: .*gsm8k/);
      const bad = `${dir}/bad.jsonl`;
      await Deno.writeTextFile(bad, '{"question": "q", "answer": "#### 1"}\n{"question": "q"}\n');
      await fails(
        ["--tasks", "gsm8k", "--data", bad, "--num-fewshot", "0"],
        /bad\.jsonl:2: field "answer" must be a string; it is missing/,
      );
      await fails(
        ["--tasks", "gsm8k", "--data", `${DATA}gsm8k.jsonl`],
        /no data for gsm8k \(train\): pass --fewshot-data gsm8k=FILE/,
      );
      await Deno.writeTextFile(bad, '{"page": " = A = \\n"}\n{"title": "x"}\n');
      await fails(["--tasks", "wikitext", "--data", bad], /bad\.jsonl:2: field "page" must be/);
      await Deno.writeTextFile(bad, '{"text": 5}\n');
      await fails(
        ["--tasks", "perplexity", "--data", bad],
        /bad\.jsonl:1: field "text" must be a string; got 5/,
      );
      await fails(
        [
          "--tasks",
          "lambada_openai",
          "--data",
          `${DATA}lambada_openai.jsonl`,
          "--num-fewshot",
          "1",
        ],
        /lambada_openai \(loglikelihood\) takes no few-shot examples/,
      );
      await fails(
        ["--tasks", "gsm8k", "--data", `${DATA}gsm8k.jsonl`, "--num-fewshot", "0"]
          .concat(["--ctx", "16", "--max-gen-toks", "20"]),
        /max_gen_toks 20 leaves no room for a prompt in a context of 15/,
      );
      await Deno.writeFile(`${dir}/bad.txt`, new Uint8Array([0x61, 0xff, 0x0a]));
      await fails(["--tasks", "perplexity", "--data", `${dir}/bad.txt`], /not UTF-8/);
    });
    await Deno.remove(dir, { recursive: true });
  },
});

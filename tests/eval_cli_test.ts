// `gemma eval` end to end on a tiny checkpoint: the table, lm-eval's results JSON, scores equal to
// the library's, and every kind of bad input as one line and exit code 1.

import assert from "node:assert/strict";
import { assertCleanFailure, gemma } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";

const EXAMPLE = new URL("../examples/eval/arc_easy.jsonl", import.meta.url).pathname;

const dir = await Deno.makeTempDir({ prefix: "gemma-eval-cli-" });
const model = `${dir}/model`;
await buildTinyModel(model, { seed: 4, numLayers: 1 });
const base = ["eval", "--model", model, "-q"];

Deno.test({
  name: "gemma eval",
  sanitizeResources: false,
  fn: async (t) => {
    await t.step("prints lm-eval's table and writes its results JSON", async () => {
      const output = `${dir}/results.json`;
      const run = await gemma([
        ...base,
        "--tasks",
        "arc_easy",
        "--data",
        `arc_easy=${EXAMPLE}`,
        "--limit",
        "3",
        "--output",
        output,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, "");
      const lines = run.stdout.trim().split("\n");
      assert.match(lines[0], /^\|Tasks\s*\|Version\|Filter\|n-shot\|Metric\s*\|/);
      assert.match(lines[2], /^\|arc_easy\|\s+1\|none\s*\|\s+0\|acc\s+\|↑\|[01]\.\d{4}\|±\|/);
      assert.match(lines[3], /\|acc_norm\|/);
      const json = JSON.parse(await Deno.readTextFile(output));
      const r = json.results.arc_easy;
      for (const key of ["acc,none", "acc_stderr,none", "acc_norm,none", "acc_norm_stderr,none"]) {
        assert.equal(typeof r[key], "number", key);
      }
      assert.ok([0, 1 / 3, 2 / 3, 1].some((v) => Math.abs(r["acc,none"] - v) < 1e-12));
      assert.deepEqual(json["n-samples"].arc_easy, { original: 8, effective: 3 });
      assert.deepEqual(json["n-shot"], { arc_easy: 0 });
      assert.equal(json.versions.arc_easy, 1);
      assert.equal(json.configs.arc_easy.dataset_name, "ARC-Easy");
      assert.equal(json.requests.arc_easy.total, 12);
      assert.equal(json.config.limit, 3);
    });

    await t.step("a folder of TASK.jsonl files serves several tasks", async () => {
      const data = `${dir}/data`;
      await Deno.mkdir(data, { recursive: true });
      await Deno.copyFile(EXAMPLE, `${data}/arc_easy.jsonl`);
      await Deno.copyFile(EXAMPLE, `${data}/arc_challenge.jsonl`);
      const run = await gemma([
        ...base,
        "--tasks",
        "arc_easy,arc_challenge",
        "--data",
        data,
        "--limit",
        "1",
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /\|arc_easy\s*\|/);
      assert.match(run.stdout, /\|arc_challenge\|/);
      assert.match(run.stdout, /±\|\s*N\/A\|/, "no stderr for one document, as lm-eval");
    });

    await t.step("reads a dataset repo's Parquet shards (allenai/ai2_arc's layout)", async () => {
      const hub = `${dir}/ai2_arc/ARC-Easy`;
      await Deno.mkdir(hub, { recursive: true });
      const parquet = new URL("./data/eval/arc_easy.parquet", import.meta.url).pathname;
      await Deno.copyFile(parquet, `${hub}/test-00000-of-00001.parquet`);
      await Deno.copyFile(parquet, `${hub}/train-00000-of-00001.parquet`); // another split
      const output = `${dir}/hub.json`;
      const run = await gemma([
        ...base,
        "--tasks",
        "arc_easy",
        "--data",
        `${dir}/ai2_arc`,
        "--output",
        output,
      ]);
      assert.equal(run.code, 0, run.stderr);
      const json = JSON.parse(await Deno.readTextFile(output));
      assert.deepEqual(json["n-samples"].arc_easy, { original: 8, effective: 8 });
    });

    await t.step("requests longer than --ctx lose their start and are counted", async () => {
      const output = `${dir}/short.json`;
      const run = await gemma([...base, "--tasks", "arc_easy", "--data", EXAMPLE, "--ctx", "12"]
        .concat(["--limit", "2", "--output", output]));
      assert.equal(run.code, 0, run.stderr);
      const json = JSON.parse(await Deno.readTextFile(output));
      assert.deepEqual(json.requests.arc_easy.total, 8);
      assert.ok(json.requests.arc_easy.truncated > 0, "some requests were truncated");
      assert.equal(json.config.max_length, 11);
    });

    const fails = async (args: string[], pattern: RegExp) =>
      assertCleanFailure(await gemma([...base, ...args]), 1, pattern);
    await t.step("bad input: one line, exit code 1", async () => {
      await fails(["--tasks", "mmlu_x", "--data", EXAMPLE], /unknown task "mmlu_x" \(known: arc_/);
      await fails(
        ["--tasks", "piqa", "--data", `${dir}/none.jsonl`],
        /"[^"]*none\.jsonl": file not/,
      );
      await fails(
        ["--tasks", "piqa", "--data", dir],
        /no data for piqa \(validation\): pass --data piqa=FILE/,
      );
      const bad = `${dir}/bad.jsonl`;
      await Deno.writeTextFile(
        bad,
        '{"goal": "g", "sol1": "a", "sol2": "b", "label": 0}\n{"goal":\n',
      );
      await fails(["--tasks", "piqa", "--data", bad], /bad\.jsonl:2: not valid JSON/);
      await Deno.writeTextFile(bad, '{"goal": "g", "sol1": "a", "label": 0}\n');
      await fails(
        ["--tasks", "piqa", "--data", bad],
        /bad\.jsonl:1: field "sol2" must be a string/,
      );
      await Deno.writeTextFile(bad, '{"goal": "g", "sol1": "a", "sol2": "b", "label": 5}\n');
      await fails(
        ["--tasks", "piqa", "--data", bad],
        /field "label" must be a choice index below 2/,
      );
      await Deno.writeFile(bad, new Uint8Array([0x7b, 0xff, 0x7d, 0x0a]));
      await fails(["--tasks", "piqa", "--data", bad], /not UTF-8/);
    });
    await Deno.remove(dir, { recursive: true });
  },
});

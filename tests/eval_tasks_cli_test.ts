// `gemma eval` beyond the fixed tasks, end to end on a tiny checkpoint: mmlu from cais/mmlu's two
// layouts, custom task files, a resumed --cache, OLMo's request files, and their bad input (one
// line, exit code 1). Scores against lm-eval itself are in lm_eval_test.ts.

import assert from "node:assert/strict";
import { assertCleanFailure, evalWithOutputs, gemma, MAIN, ROOT } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";

const DATA = `${ROOT}tests/data/eval`;

const dir = await Deno.makeTempDir({ prefix: "gemma-eval-tasks-" });
const model = `${dir}/model`;
await buildTinyModel(model, { seed: 4, numLayers: 1 });
const base = ["eval", "--model", model, "--dtype", "f32", "-q"];

/** Runs `gemma eval` with --output and --log-samples in `dir`; returns both, parsed. */
const evaluate = (args: string[], name: string) => evalWithOutputs([...base, ...args], dir, name);

Deno.test({
  name: "gemma eval: mmlu, custom tasks, --cache, OLMo requests",
  sanitizeResources: false,
  fn: async (t) => {
    await t.step(
      "mmlu: cais/mmlu's `all` Parquet gives what the subject folders give",
      async () => {
        const args = ["--tasks", "mmlu", "--num-fewshot", "1"];
        const folders = await evaluate([...args, "--data", `${DATA}/mmlu`], "mmlu_folders");
        const all = await evaluate([...args, "--data", `${DATA}/mmlu_all`], "mmlu_all");
        assert.deepEqual(all.json.results, folders.json.results);
        assert.deepEqual(all.samples, folders.samples);
        // The three subjects found, two categories and the whole; the dev split's first example.
        assert.deepEqual(Object.keys(folders.json.results).sort(), [
          "mmlu",
          "mmlu_anatomy",
          "mmlu_astronomy",
          "mmlu_business_ethics",
          "mmlu_other",
          "mmlu_stem",
        ]);
        assert.deepEqual(folders.json.group_subtasks.mmlu, ["mmlu_other", "mmlu_stem"]);
        const first = folders.samples.find((s) => s.task === "mmlu_anatomy");
        assert.ok(first.arguments[0][0].startsWith(
          "The following are multiple choice questions (with answers) about anatomy.\n\n" +
            "Which organ pumps blood through the body?\nA. Kidney\n",
        ));
        assert.deepEqual(first.arguments.map((a: string[]) => a[1]), [" A", " B", " C", " D"]);
        const sizes = { mmlu_anatomy: 3, mmlu_astronomy: 2, mmlu_business_ethics: 3 };
        let weighted = 0;
        for (const [task, n] of Object.entries(sizes)) {
          weighted += folders.json.results[task]["acc,none"] * n;
        }
        assert.ok(Math.abs(folders.json.results.mmlu["acc,none"] - weighted / 8) < 1e-12);
      },
    );

    await t.step("a custom task file scores as the built-in task it copies", async () => {
      // lm-eval's mmlu template, as a task file over the same subject's files.
      const taskFile = `${dir}/anatomy.json`;
      await Deno.writeTextFile(
        taskFile,
        JSON.stringify({
          task: "my_anatomy",
          data: `${DATA}/mmlu/anatomy/test-00000-of-00001.jsonl`,
          fewshot_data: `${DATA}/mmlu/anatomy/dev-00000-of-00001.jsonl`,
          description:
            "The following are multiple choice questions (with answers) about anatomy.\n\n",
          doc_to_text:
            "{{question.strip()}}\nA. {{choices[0]}}\nB. {{choices[1]}}\nC. {{choices[2]}}\nD. {{choices[3]}}\nAnswer:",
          doc_to_choice: ["A", "B", "C", "D"],
          doc_to_target: "answer",
          metric_list: [{ metric: "acc" }, "acc_mutual_info"],
        }),
      );
      const mine = await evaluate(["--task-file", taskFile, "--mutual-info"], "custom");
      const builtin = await evaluate(
        ["--tasks", "mmlu_anatomy", "--data", `${DATA}/mmlu`, "--mutual-info"],
        "builtin",
      );
      assert.deepEqual(
        mine.samples.map((s) => ({ ...s, task: "" })),
        builtin.samples.map((s) => ({ ...s, task: "" })),
      );
      const { alias: _a, ...ours } = mine.json.results.my_anatomy;
      const { alias: _b, ...theirs } = builtin.json.results.mmlu_anatomy;
      assert.deepEqual(ours, theirs);
      assert.ok("acc_mutual_info,none" in ours);
      // The YAML example runs as shipped.
      const example = await evaluate(
        ["--task-file", `${ROOT}examples/eval/capitals.yaml`],
        "example",
      );
      assert.deepEqual(example.json["n-samples"].capitals, { original: 6, effective: 6 });
      assert.equal(example.samples[0].arguments[1][1], " Lyon");
      // As in lm-eval, --tasks takes a task file's path too, in its place among the names.
      const listed = await evaluate(
        ["--tasks", `${ROOT}examples/eval/capitals.yaml,my_anatomy`, "--task-file", taskFile],
        "listed",
      );
      assert.deepEqual(Object.keys(listed.json.results), ["capitals", "my_anatomy"]);
      assert.deepEqual(listed.json.results.capitals, example.json.results.capitals);
    });

    await t.step(
      "--cache: a run cut short resumes to the uninterrupted run's results",
      async () => {
        const args = ["--tasks", "truthfulqa_mc2,piqa"]
          .concat(["--data", `truthfulqa_mc2=${DATA}/truthfulqa.jsonl`])
          .concat(["--data", `piqa=${DATA}/piqa.jsonl`]);
        const whole = await evaluate(args, "whole");
        const cache = `${dir}/scores.jsonl`;
        const first = await evaluate([...args, "--cache", cache], "first");
        assert.deepEqual(first.json.results, whole.json.results);
        const lines = (await Deno.readTextFile(cache)).split("\n").filter((l) => l !== "");
        assert.equal(lines.length, 17); // 11 truthfulqa_mc2 requests + 6 piqa
        // As if killed while writing the eighth score: seven lines and a torn one.
        await Deno.writeTextFile(
          cache,
          lines.slice(0, 7).join("\n") + "\n" + lines[7].slice(0, 30),
        );
        const resumed = await gemma(
          [...base, ...args, "--cache", cache, "--output", `${dir}/r.json`]
            .filter((a) => a !== "-q"),
        );
        assert.equal(resumed.code, 0, resumed.stderr);
        assert.match(
          resumed.stderr,
          /truthfulqa_mc2: 3 documents, 11 requests .* 7 from the cache/,
        );
        const json = JSON.parse(await Deno.readTextFile(`${dir}/r.json`));
        assert.deepEqual(json.results, whole.json.results);
        const after = (await Deno.readTextFile(cache)).split("\n");
        assert.equal(after.pop(), "", "the file ends with a newline");
        assert.equal(after.length, 17);
        after.forEach((l) => JSON.parse(l)); // no torn line left
        // Every score cached now: nothing is scored again, and the results are the same.
        const again = await evaluate([...args, "--cache", cache], "again");
        assert.deepEqual(again.json.results, whole.json.results);
        assert.equal(again.json.requests.piqa.cached, 6);
      },
    );

    await t.step(
      "--cache: a run killed (SIGKILL) mid-way resumes to the same results",
      async () => {
        const args = ["--tasks", "truthfulqa_mc1,truthfulqa_mc2"]
          .concat(["--data", `truthfulqa_mc1=${DATA}/truthfulqa.jsonl`])
          .concat(["--data", `truthfulqa_mc2=${DATA}/truthfulqa.jsonl`]);
        const whole = await evaluate(args, "whole_tq");
        const cache = `${dir}/killed.jsonl`;
        const child = new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", MAIN, ...base, ...args, "--cache", cache],
          cwd: ROOT,
          stdout: "null",
          stderr: "null",
        }).spawn();
        // Kill it once a few of its 20 scores are on disk.
        const lines = async () =>
          (await Deno.readTextFile(cache).catch(() => "")).split("\n").length - 1;
        while (await lines() < 3) await new Promise((r) => setTimeout(r, 10));
        child.kill("SIGKILL");
        const status = await child.status;
        assert.equal(status.signal, "SIGKILL", "killed before it finished");
        const kept = await lines();
        assert.ok(kept < 20, `${kept} of 20 scores written before the kill`);
        const resumed = await evaluate([...args, "--cache", cache], "resumed_tq");
        // The same up to f32 rounding: the scores left to compute share forward calls with
        // other choices than in the whole run (scoreBranches), which rounds them differently.
        assertNear(resumed.json.results, whole.json.results);
        assertNear(resumed.samples, whole.samples);
        const cached = resumed.json.requests.truthfulqa_mc1.cached +
          resumed.json.requests.truthfulqa_mc2.cached;
        assert.ok(cached >= kept, `${cached} scores reused, ${kept} on disk`);
      },
    );

    await t.step("OLMo request files: lm-eval's and OLMo's metrics, labelled", async () => {
      const folder = `${DATA}/olmo/arc_easy/rc_0shot`;
      const olmo = await evaluate(["--olmo-requests", folder], "olmo");
      const name = "arc_easy:rc_0shot";
      const docs = olmo.samples.filter((s) => s.task === name);
      assert.equal(docs.length, 3);
      // The same documents as an arc_easy file: its requests are OLMo's rc requests.
      const arc = `${dir}/arc_easy.jsonl`;
      const requests = (await gunzipLines(`${folder}/requests.jsonl.gz`))
        .filter((r) => r.doc_id < 1000000 && r.idx === 0);
      await Deno.writeTextFile(
        arc,
        requests.map((r) =>
          JSON.stringify({
            question: r.doc.query.replace(/^Question: /, "").replace(/\nAnswer:$/, ""),
            choices: {
              text: r.doc.choices,
              label: r.doc.choices.map((_: string, i: number) => "ABCDE"[i]),
            },
            answerKey: "ABCDE"[r.label],
          }) + "\n"
        ).join(""),
      );
      const builtin = await evaluate(["--tasks", "arc_easy", "--data", arc], "arc");
      const results = olmo.json.results[name];
      for (const key of ["acc,none", "acc_norm,none", "acc_stderr,none"]) {
        assert.equal(results[key], builtin.json.results.arc_easy[key], key);
      }
      assert.equal(results["olmo_acc_raw,none"], results["acc,none"]);
      // OLMo's definitions, from the scores: length with the leading space, bits per byte of the
      // gold continuation, and the unconditional requests (the second half of each document's).
      let perChar = 0, uncond = 0, bpb = 0;
      docs.forEach((d, i) => {
        const n = d.arguments.length / 2;
        const lls = d.resps.slice(0, n).map((r: [number, boolean]) => r[0]);
        const free = d.resps.slice(n).map((r: [number, boolean]) => r[0]);
        const conts = d.arguments.slice(0, n).map((a: string[]) => a[1]);
        assert.equal(d.arguments[n][0], "Answer:");
        const best = (v: number[]) => v.indexOf(Math.max(...v));
        perChar += best(lls.map((ll: number, j: number) => ll / [...conts[j]].length)) ===
            d.target
          ? 1
          : 0;
        uncond += best(lls.map((ll: number, j: number) => ll - free[j])) === d.target ? 1 : 0;
        bpb += -lls[d.target] / Math.LN2 / new TextEncoder().encode(conts[d.target]).length;
        // Near, not equal: the runs keep different shared beginnings (the OLMo file's
        // unconditional requests sort between), which changes f32 summation orders.
        assertNear(d.resps.slice(0, n), builtin.samples[i].resps, `document ${i}`);
      });
      assert.ok(Math.abs(results["olmo_acc_per_char,none"] - perChar / 3) < 1e-12);
      assert.ok(Math.abs(results["olmo_acc_uncond,none"] - uncond / 3) < 1e-12);
      assert.ok(Math.abs(results["olmo_bits_per_byte,none"] - bpb / 3) < 1e-12);
      assert.equal(olmo.json.higher_is_better[name].olmo_bits_per_byte, false);
      assert.match(olmo.run.stdout, /\|olmo_bits_per_byte\|↓\|/);
    });

    const fails = async (args: string[], pattern: RegExp) =>
      assertCleanFailure(await gemma([...base, ...args]), 1, pattern);
    await t.step("bad input: one line, exit code 1", async () => {
      await fails(
        ["--tasks", "mmlu_nope", "--data", `${DATA}/mmlu`],
        /unknown task "mmlu_nope" \(known: arc_easy, .*truthfulqa_mc2, .*mmlu, .*mmlu_<subject> for abstract_algebra, .*world_religions\)/,
      );
      await fails(["--tasks", "mmlu", "--data", dir], /no data for mmlu: pass --data/);
      const subject = `${dir}/bad_mmlu/anatomy`;
      await Deno.mkdir(subject, { recursive: true });
      const row = { question: "q", subject: "anatomy", choices: ["a", "b", "c", "d"], answer: 4 };
      await Deno.writeTextFile(`${subject}/test-00000-of-00001.jsonl`, JSON.stringify(row) + "\n");
      await fails(
        ["--tasks", "mmlu_anatomy", "--data", `${dir}/bad_mmlu`],
        /anatomy\/test-00000-of-00001\.jsonl:1: field "answer" must be a choice index below 4/,
      );
      const data = `${dir}/custom.jsonl`;
      await Deno.writeTextFile(data, '{"q": "a", "options": ["x", "y"], "gold": 1}\n{"q": "b"}\n');
      const taskFile = `${dir}/custom.yaml`;
      const yaml = (target: string) =>
        `task: mine\ndata: custom.jsonl\ndoc_to_text: "Q: {{q}}"\n` +
        `doc_to_choice: "{{options}}"\ndoc_to_target: ${target}\n`;
      await Deno.writeTextFile(taskFile, yaml("gold"));
      await fails(
        ["--task-file", taskFile],
        /custom\.jsonl:2: field "options" \(read by doc_to_choice\) is missing/,
      );
      await Deno.writeTextFile(data, '{"q": "a", "options": ["x", "y"], "gold": 2}\n');
      await fails(
        ["--task-file", taskFile],
        /custom\.jsonl:1: doc_to_target must give a choice index below 2; got 2/,
      );
      await Deno.writeTextFile(taskFile, yaml("gold") + "metric_list: [f1]\n");
      await fails(["--task-file", taskFile], /custom\.yaml: "metric_list" must be a list of acc/);
      const olmo = `${dir}/olmo/arc/rc`;
      await Deno.mkdir(olmo, { recursive: true });
      await Deno.writeTextFile(`${olmo}/config.json`, "{}");
      const request = (idx: number) =>
        JSON.stringify({
          request_type: "loglikelihood",
          request: { context: "Q", continuation: ` ${idx}` },
          doc_id: 0,
          idx,
          label: 2,
        });
      await Deno.writeTextFile(`${olmo}/requests.jsonl`, `${request(0)}\n${request(1)}\n`);
      await fails(
        ["--olmo-requests", olmo],
        /requests\.jsonl: doc_id 0: field "label" is 2, a choice index out of range \(2 choices\)/,
      );
      await Deno.writeFile(`${olmo}/requests.jsonl.gz`, new Uint8Array([0x1f, 0x8b, 8, 0, 0]));
      await fails(["--olmo-requests", olmo], /requests\.jsonl\.gz": not gzip-compressed/);
    });
    await Deno.remove(dir, { recursive: true });
  },
});

async function gunzipLines(path: string) {
  const stream = (await Deno.open(path)).readable.pipeThrough(new DecompressionStream("gzip"));
  const text = await new Response(stream).text();
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

/** Deep equality with numbers equal within 1e-5 (relative, or absolute near zero). */
function assertNear(actual: unknown, expected: unknown, path = "result"): void {
  if (typeof expected === "number" && typeof actual === "number") {
    const tolerance = 1e-5 * Math.max(1, Math.abs(expected));
    assert.ok(Math.abs(actual - expected) <= tolerance, `${path}: ${actual} vs ${expected}`);
    return;
  }
  if (typeof expected !== "object" || expected === null) {
    assert.deepEqual(actual, expected, path);
    return;
  }
  assert.equal(typeof actual, "object", path);
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  assert.deepEqual(Object.keys(a).sort(), Object.keys(e).sort(), path);
  for (const key of Object.keys(e)) assertNear(a[key], e[key], `${path}.${key}`);
}

// `gemma eval`'s generated answers and perplexities against lm-evaluation-harness itself: lm-eval
// 0.4.13's HF model (CPU torch, float32) and its own task YAMLs (gsm8k, wikitext, lambada_openai;
// a plain loglikelihood_rolling task for `perplexity`) on the same tiny random checkpoint and the
// same local files (tests/python/lm_eval_tasks.py), against `gemma eval --dtype f32`: equal
// prompts, generated texts, filtered answers and exact_match; rolling log-likelihoods within the
// multiple-choice test's tolerance; equal perplexities. Also lm-eval's own filters and exact_match
// (tests/python/lm_eval_filters.py) against ours on awkward strings, and lm-eval's
// generate_until with stop strings (tests/python/lm_eval_generate.py) against generateUntil.

import assert from "node:assert/strict";
import { exactMatch, regexFilter } from "../core/eval/filters.ts";
import {
  generateUntil,
  type GenerationRequest,
  specialStops,
} from "../core/eval/generate_until.ts";
import {
  createGpuContext,
  GemmaSession,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
} from "../core/mod.ts";
import { buildTinyModel } from "./fixtures.ts";
import { runPython } from "./python_reference.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DATA = `${ROOT}tests/data/eval`;

interface Job {
  tasks: Record<string, string>;
  fewshot: Record<string, string>;
  maxLength: number;
  maxGenToks: number;
}

async function lmEval(model: string, job: Job) {
  const input = {
    model,
    tasks: job.tasks,
    fewshot: job.fewshot,
    num_fewshot: null,
    max_length: job.maxLength,
    max_gen_toks: job.maxGenToks,
  };
  const out = await runPython(
    "lm_eval_tasks.py",
    [],
    new TextEncoder().encode(JSON.stringify(input)),
  );
  return JSON.parse(new TextDecoder().decode(out));
}

async function gemmaEval(model: string, dir: string, job: Job) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}cli/main.ts`,
      "eval",
      "--model",
      model,
      "--dtype",
      "f32",
      "-q",
      `--ctx=${job.maxLength + 1}`,
      `--max-gen-toks=${job.maxGenToks}`,
      "--tasks",
      Object.keys(job.tasks).join(","),
      ...Object.entries(job.tasks).map(([task, path]) => `--data=${task}=${path}`),
      ...Object.entries(job.fewshot).map(([task, path]) => `--fewshot-data=${task}=${path}`),
      "--output",
      `${dir}/results.json`,
      "--log-samples",
      `${dir}/samples.jsonl`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const results = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
  const samples = (await Deno.readTextFile(`${dir}/samples.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l));
  return { results, samples };
}

function close(ours: number, theirs: number, what: string, rtol = 1e-5) {
  assert.ok(
    Math.abs(ours - theirs) <= 1e-3 + rtol * Math.abs(theirs),
    `${what}: ${ours} vs lm-eval ${theirs}`,
  );
}

async function compare(job: Job) {
  const dir = await Deno.makeTempDir({ prefix: "gemma-lm-eval-gen-" });
  try {
    await buildTinyModel(`${dir}/model`, { seed: 4, numLayers: 1 });
    const theirs = await lmEval(`${dir}/model`, job);
    const ours = await gemmaEval(`${dir}/model`, dir, job);
    const of = (task: string) => ours.samples.filter((s) => s.task === task);
    let worst = 0;
    for (const task of Object.keys(job.tasks)) {
      const expected = theirs.results[task];
      const mine = ours.results.results[task];
      if (theirs.generations[task]) {
        const docs = of(task);
        assert.equal(docs.length, theirs.generations[task].length, `${task}: documents`);
        docs.forEach((doc, i) => {
          const ref = theirs.generations[task][i];
          assert.equal(doc.arguments[0][0], ref.context, `${task} doc ${i}: prompt`);
          assert.equal(doc.resps[0][0], ref.text, `${task} doc ${i}: generated text`);
          assert.deepEqual(doc.filtered_resps, ref.filtered, `${task} doc ${i}: filtered answers`);
          assert.deepEqual(doc.exact_match, ref.exact_match, `${task} doc ${i}: exact_match`);
        });
      }
      if (theirs.rolling[task]) {
        of(task).forEach((doc, i) => {
          const ll = theirs.rolling[task][i];
          worst = Math.max(worst, Math.abs(doc.resps[0][0] - ll));
          close(doc.resps[0][0], ll, `${task} doc ${i}: rolling log-likelihood`);
        });
      }
      if (theirs.samples[task]) {
        of(task).forEach((doc, i) => {
          assert.deepEqual(doc.arguments, theirs.arguments[task][i], `${task} doc ${i}: request`);
          const [ll, greedy] = theirs.samples[task][i][0];
          worst = Math.max(worst, Math.abs(doc.resps[0][0] - ll));
          close(doc.resps[0][0], ll, `${task} doc ${i}: log-likelihood`);
          assert.equal(doc.resps[0][1], greedy, `${task} doc ${i}: is_greedy`);
        });
      }
      const keys = Object.keys(expected).filter((k) => /,/.test(k));
      assert.deepEqual(Object.keys(mine).filter((k) => /,/.test(k)).sort(), keys.sort(), task);
      for (const key of keys) {
        if (expected[key] === "N/A") assert.equal(mine[key], "N/A", `${task} ${key}`);
        // Perplexities amplify the log-likelihoods' float differences (exp of a mean).
        else close(mine[key], expected[key], `${task} ${key}`, 1e-4);
      }
    }
    const scored = Object.keys(job.tasks).some((t) => theirs.rolling[t] || theirs.samples[t]);
    if (scored) {
      console.log(`largest |Δ log-likelihood| against lm-eval: ${worst.toExponential(2)} nats`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "gsm8k 5-shot: the prompts, generated texts, filtered answers and exact_match of lm-eval",
  sanitizeResources: false,
  fn: () =>
    compare({
      tasks: { gsm8k: `${DATA}/gsm8k.jsonl` },
      fewshot: { gsm8k: `${DATA}/gsm8k_train.jsonl` },
      maxLength: 1024,
      maxGenToks: 24,
    }),
});

Deno.test({
  name:
    "a 32-token context: gsm8k's prompts cut from the left, rolling windows of wikitext and of plain text, lambada_openai, as lm-eval",
  sanitizeResources: false,
  fn: () =>
    compare({
      tasks: {
        gsm8k: `${DATA}/gsm8k.jsonl`,
        wikitext: `${DATA}/wikitext.jsonl`,
        lambada_openai: `${DATA}/lambada_openai.jsonl`,
        perplexity: `${DATA}/perplexity.jsonl`,
      },
      fewshot: { gsm8k: `${DATA}/gsm8k_train.jsonl` },
      maxLength: 32,
      maxGenToks: 8,
    }),
});

const STRICT = "#### (\\-?[0-9\\.\\,]+)";
const FLEXIBLE = "(-?[$0-9.,]{2,})|(-?[0-9]+)";
const GSM8K_MATCH = {
  ignore_case: true,
  ignore_punctuation: false,
  regexes_to_ignore: [",", "\\$", "(?s).*#### ", "\\.$"],
};

Deno.test("regex filters and exact_match equal lm-eval's own on awkward strings", async () => {
  const texts = [
    "The answer is #### -1,234.50\n",
    "#### 12.\n",
    "It costs $1,000. Then 7 then 8",
    "no numbers here",
    "7 then 8",
    "#### 5\n#### 6",
    "  ####   42  ",
    "٣٤ and ١٢",
    "",
    "Total: $5.00.\n\nQuestion",
    "a-b 3-4 -5",
  ];
  const regex: [string, string, number][] = texts.flatMap((t) => [
    [t, STRICT, 0] as [string, string, number],
    [t, FLEXIBLE, -1] as [string, string, number],
    [t, FLEXIBLE, 0] as [string, string, number],
    [t, "(\\d+)\\D*$", 0] as [string, string, number],
    [t, "([a-z]+)|(\\d)", 1] as [string, string, number],
  ]).filter(([t, , g]) => g !== 1 || /[a-z\d]/.test(t));
  const options = [
    GSM8K_MATCH,
    { ignore_case: false, ignore_punctuation: true, regexes_to_ignore: [] },
    { ignore_case: true, ignore_punctuation: true, regexes_to_ignore: ["\\s+$", "^the "] },
  ];
  const pairs = [
    ["12.\n", "#### 12"],
    ["12.", "reasoning\nover lines\n#### 12"],
    ["$1,000", "#### 1000"],
    ["ÀB", "àb"],
    ["a.b,c!", "abc"],
    ["The Cat  ", "cat"],
    ["", ""],
    ["[invalid]", "#### 3"],
    ["5.", "5"],
    ["-7", "#### -7"],
  ];
  const exact: [string, string, Record<string, unknown>][] = pairs.flatMap(([p, r]) =>
    options.map((o) => [p, r, o] as [string, string, Record<string, unknown>])
  );
  const theirs = JSON.parse(
    new TextDecoder().decode(
      await runPython(
        "lm_eval_filters.py",
        [],
        new TextEncoder().encode(JSON.stringify({ regex, exact_match: exact })),
      ),
    ),
  );
  regex.forEach(([text, pattern, group], i) => {
    assert.equal(
      regexFilter(text, pattern, group),
      theirs.regex[i],
      `${JSON.stringify(text)} /${pattern}/ group ${group}`,
    );
  });
  exact.forEach(([prediction, reference, o], i) => {
    const ours = exactMatch(prediction, reference, {
      ignoreCase: o.ignore_case as boolean,
      ignorePunctuation: o.ignore_punctuation as boolean,
      regexesToIgnore: o.regexes_to_ignore as string[],
    });
    assert.equal(
      ours,
      theirs.exact_match[i],
      `${JSON.stringify(prediction)} vs ${JSON.stringify(reference)} ${JSON.stringify(o)}`,
    );
  });
});

Deno.test({
  name: "generation stops at until strings and cuts the answer as lm-eval's generate_until",
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-lm-eval-until-" });
    const checkpoint = await (async () => {
      await buildTinyModel(dir, { seed: 4, numLayers: 1 });
      return await openCheckpoint(dir);
    })();
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32" });
    const tokenizer = await loadTokenizer(dir);
    const session = new GemmaSession(model, { contextLength: 65 });
    try {
      const contexts = ["Question: What is 2 + 3?\nAnswer:", "The weather today is"];
      const run = (requests: GenerationRequest[]) =>
        generateUntil(session, tokenizer, requests, { maxLength: 64, stopTokenIds: [1] });
      // Free runs first, then stop strings taken from their texts: one that occurs inside, a
      // list where a missing string comes first, and overlapping ones.
      const free = await run(contexts.map((context) => ({ context, until: [], maxGenToks: 12 })));
      const requests: GenerationRequest[] = contexts.flatMap((context, i) => {
        const chars = [...free[i].text];
        const piece = (a: number, b: number) => chars.slice(a, b).join("");
        return [
          [piece(4, 7)],
          ["never generated", piece(6, 8), piece(2, 5)],
          [piece(3, 6), piece(2, 4)],
          [piece(0, 1)],
          ["<end_of_turn>", "<start_of_turn>"], // special tokens: stop as lm-eval's criterion
        ].map((until) => ({ context, until, maxGenToks: 12 }));
      });
      const ours = await run(requests);
      const theirs: string[] = JSON.parse(
        new TextDecoder().decode(
          await runPython(
            "lm_eval_generate.py",
            [],
            new TextEncoder().encode(JSON.stringify({
              model: dir,
              max_length: 64,
              requests: requests.map((r) => [
                r.context,
                { until: r.until, max_gen_toks: r.maxGenToks },
              ]),
            })),
          ),
        ),
      );
      requests.forEach((r, i) => {
        assert.equal(ours[i].text, theirs[i], `${JSON.stringify(r.context)} until ${r.until}`);
      });
      // Stop strings that are special tokens end generation as token ids.
      assert.deepEqual(
        specialStops(tokenizer, ["<end_of_turn>", "Question:", "<eos>", "<start_of_turn>x"]),
        [107, 1],
      );
      // The stop strings did stop generation early (fewer than the 12 tokens of a free run).
      assert.ok(ours.some((g) => g.tokens < 12), "some generation stopped at a string");
      assert.ok(ours.some((g, i) => g.text.length < free[Math.floor(i / 5)].text.length));
    } finally {
      session.destroy();
      model.destroy();
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

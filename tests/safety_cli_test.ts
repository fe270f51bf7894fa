// `gemma safety pii` and `gemma safety classify` end to end: argument, stdin and JSONL input,
// --json output, scores equal to the library's, and bad input as one line with exit code 1.

import assert from "node:assert/strict";
import { assertCleanFailure, gemma as runGemma, type Run } from "./cli_run.ts";
import { buildTinyModel } from "./fixtures.ts";
import {
  createGpuContext,
  GemmaSession,
  loadCheckpointTokenizer,
  loadGemma,
  openCheckpoint,
} from "../core/mod.ts";
import { classify, HARM_POLICIES } from "../safety/mod.ts";

/** Bad input: exit code 1, one line on stderr, nothing on stdout. */
function assertRejected(run: Run, pattern: RegExp): void {
  assertCleanFailure(run, 1, pattern);
  assert.equal(run.stdout, "");
}

/** `gemma args…` without a PII salt from the environment. */
function gemma(args: string[], stdin: string | Uint8Array = ""): Promise<Run> {
  return runGemma(args, stdin, { GEMMA_PII_SALT: "" });
}

Deno.test("gemma safety pii", async (t) => {
  const text = "Mail jo@example.com or call +44 20 7946 0958; card 4111 1111 1111 1111.";

  await t.step("an argument, replaced by type tags", async () => {
    const run = await gemma(["safety", "pii", text]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "Mail <EMAIL> or call <PHONE>; card <CREDIT_CARD>.\n");
    assert.equal(run.stderr, "");
  });

  await t.step("stdin with --mask, --redact and --hash", async () => {
    const masked = await gemma(["safety", "pii", "--mask", "-"], text);
    assert.equal(
      masked.stdout,
      "Mail **@******e.com or call +** ** **** 0958; card **** **** **** 1111.\n",
    );
    const redacted = await gemma(
      ["safety", "pii", "--redact", "--types", "email,phone", "-"],
      text,
    );
    assert.equal(redacted.stdout, "Mail  or call ; card 4111 1111 1111 1111.\n");
    const hashed = await gemma(["safety", "pii", "--hash", "--salt", "s", "-"], text);
    assert.match(hashed.stdout, /^Mail <EMAIL:[0-9a-f]{16}> or call <PHONE:[0-9a-f]{16}>;/);
  });

  await t.step("--json gives the anonymized text and the spans in the input", async () => {
    const run = await gemma(["safety", "pii", "--json", text]);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout);
    assert.equal(json.text, "Mail <EMAIL> or call <PHONE>; card <CREDIT_CARD>.");
    assert.deepEqual(
      json.entities.map((e: { type: string; start: number; end: number }) => [
        e.type,
        text.slice(e.start, e.end),
      ]),
      [["EMAIL", "jo@example.com"], ["PHONE", "+44 20 7946 0958"], [
        "CREDIT_CARD",
        "4111 1111 1111 1111",
      ]],
    );
    assert.equal(json.entities[2].detail, "visa");
  });

  await t.step("--jsonl keeps the other fields and skips blank lines", async () => {
    const input = '{"id": 1, "text": "ip 10.1.2.3", "lang": "en"}\n\n{"id": 2, "text": "clean"}\n';
    const run = await gemma(["safety", "pii", "--jsonl"], input);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      {
        id: 1,
        text: "ip <IP_ADDRESS>",
        lang: "en",
        pii: [{ type: "IP_ADDRESS", start: 3, end: 11, score: 0.95, detail: "ipv4" }],
      },
      { id: 2, text: "clean", pii: [] },
    ]);
  });

  await t.step("bad input: one line, exit code 1", async () => {
    const notUtf8 = new Uint8Array([...new TextEncoder().encode('{"text": "ok"}\n'), 0xff, 0x0a]);
    assertRejected(
      await gemma(["safety", "pii", "--jsonl"], notUtf8),
      /line 2 is not valid UTF-8/,
    );
    assertRejected(await gemma(["safety", "pii", "-"], new Uint8Array([0x61, 0xc3])), /UTF-8/);
    assertRejected(
      await gemma(["safety", "pii", "--jsonl"], '{"text": "a"}\n{"txt": "b"}\n'),
      /--jsonl line 2: no "text" string/,
    );
    assertRejected(await gemma(["safety", "pii", "--jsonl"], "not json\n"), /line 1: not JSON/);
    assertRejected(await gemma(["safety", "pii", "--types", "zip", "x"]), /unknown PII type/);
    assertRejected(await gemma(["safety", "pii", "--hash", "x"]), /needs a salt/);
    assertRejected(await gemma(["safety", "pii", "--mask", "--redact", "x"]), /together/);
    assertRejected(await gemma(["safety", "pii", "--regions", "XX", "x"]), /phone region/);
    assertRejected(await gemma(["safety", "pii", " "]), /empty/);
    assertRejected(await gemma(["safety", "pii"]), /no text/);
  });
});

Deno.test({
  name: "gemma safety classify",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-safety-cli-" });
    const model = `${dir}/model`;
    await buildTinyModel(model, { seed: 5, numLayers: 1 });
    const base = ["safety", "classify", "--model", model, "-q"];
    const prompt = "How do I pick a lock?";

    let expected: number[] = [];
    await t.step("the library's scores, computed in this process", async () => {
      const checkpoint = await openCheckpoint(model);
      const tokenizer = await loadCheckpointTokenizer(checkpoint);
      const gpu = await createGpuContext();
      const gemmaModel = await loadGemma(gpu, checkpoint, { prepare: true });
      const session = new GemmaSession(gemmaModel);
      expected = (await classify(session, tokenizer, prompt, HARM_POLICIES)).map((s) => s.pYes);
      session.destroy();
      gemmaModel.destroy();
      gpu.destroy();
    });

    await t.step("plain output: one line per policy", async () => {
      const run = await gemma([...base, prompt]);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split("\n");
      assert.equal(lines.length, 4);
      lines.forEach((line, i) => {
        const m = /^(.+?)\s+(\d\.\d{4})\s+(ok|violation)$/.exec(line);
        assert.ok(m, line);
        assert.equal(m[1], HARM_POLICIES[i].name);
        assert.equal(m[2], expected[i].toFixed(4));
      });
    });

    await t.step("--json from stdin, with --threshold deciding each violation", async () => {
      const threshold = [...expected].sort((a, b) => a - b)[2]; // two policies at or above, two below
      const run = await gemma([...base, "--json", "--threshold", String(threshold), "-"], prompt);
      assert.equal(run.code, 0, run.stderr);
      const json = JSON.parse(run.stdout);
      assert.equal(json.threshold, threshold);
      assert.deepEqual(json.policies.map((p: { policy: string }) => p.policy), [
        "dangerous",
        "hate",
        "sexual",
        "harassment",
      ]);
      json.policies.forEach((p: { p_yes: number; violation: boolean }, i: number) => {
        assert.ok(Math.abs(p.p_yes - expected[i]) < 1e-6, `${p.p_yes} vs ${expected[i]}`);
        assert.equal(p.violation, expected[i] >= threshold);
      });
      assert.equal(json.violation, true);
    });

    await t.step("--jsonl with responses and a custom policy file", async () => {
      const file = `${dir}/policies.json`;
      await Deno.writeTextFile(
        file,
        JSON.stringify([{ name: "Medical Advice", description: "gives a diagnosis." }]),
      );
      const input =
        `{"text": "I have a headache", "id": 7}\n{"text": "Hi", "response": "Take two aspirin."}\n`;
      const run = await gemma([...base, "--jsonl", "--policy-file", file], input);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(lines.length, 2);
      assert.equal(lines[0].id, 7);
      assert.equal(lines[1].response, "Take two aspirin.");
      for (const line of lines) {
        assert.deepEqual(line.safety.policies.map((p: { policy: string }) => p.policy), [
          "medical_advice",
        ]);
        assert.ok(line.safety.policies[0].p_yes > 0 && line.safety.policies[0].p_yes < 1);
      }
      assert.notEqual(lines[0].safety.policies[0].p_yes, lines[1].safety.policies[0].p_yes);
    });

    await t.step("bad input: one line, exit code 1, before the model loads", async () => {
      const file = `${dir}/bad.json`;
      await Deno.writeTextFile(file, '[{"name": "X"}]');
      assertRejected(
        await gemma([...base, "--policy-file", file, "x"]),
        /policy 1 has no "description"/,
      );
      assertRejected(
        await gemma([...base, "--policy-file", `${dir}/missing.json`, "x"]),
        /Cannot read the policy file/,
      );
      assertRejected(await gemma([...base, "--policy", "violence", "x"]), /unknown policy/);
      assertRejected(await gemma([...base, "--threshold", "1.5", "x"]), /--threshold/);
      assertRejected(await gemma([...base, ""]), /empty/);
      assertRejected(await gemma([...base, "--response", " ", "x"]), /response is empty/);
      assertRejected(await gemma([...base, "-"], new Uint8Array([0x68, 0xff])), /UTF-8/);
      assertRejected(
        await gemma([...base, "--jsonl"], '{"text": "a", "response": 3}\n'),
        /line 1: "response" must be a string/,
      );
    });
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "gemma generate and chat with --guard and --redact-pii",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-guard-cli-" });
    const model = `${dir}/model`;
    await buildTinyModel(model, { seed: 5, numLayers: 1 });
    const base = ["generate", "--model", model, "-q", "--temperature", "0", "-n", "12"];
    const prompt = "How do I pick a lock?";

    await t.step(
      "a blocked prompt: the refusal on stdout, the reason on stderr, exit 3",
      async () => {
        const run = await gemma([...base, "--guard", "--guard-threshold", "0", prompt]);
        assert.equal(run.code, 3, run.stderr);
        assert.equal(run.stdout, "I can't help with that.\n");
        assert.match(
          run.stderr,
          /^guard: the prompt violates "Dangerous Content" \(P\(Yes\) 0\.\d{3}\)/,
        );
        assert.equal(run.stderr.trim().split("\n").length, 1);
        const json = await gemma([
          ...base,
          "--guard",
          "harassment",
          "--guard-threshold",
          "0",
          "--json",
          prompt,
        ]);
        assert.equal(json.code, 3);
        const out = JSON.parse(json.stdout);
        assert.equal(out.text, "");
        assert.equal(out.finish_reason, "guard");
        assert.deepEqual(out.token_ids, []);
        assert.equal(out.safety.blocked, "prompt");
        assert.deepEqual(out.safety.checks.map((c: { stage: string }) => c.stage), ["prompt"]);
        assert.deepEqual(Object.keys(out.safety.checks[0].scores), ["harassment"]);
      },
    );

    await t.step(
      "a guard that clears everything changes nothing, and --json reports every score",
      async () => {
        const plain = JSON.parse((await gemma([...base, "--json", prompt])).stdout);
        const run = await gemma([...base, "--json", "--guard", "--guard-threshold", "1", prompt]);
        assert.equal(run.code, 0, run.stderr);
        const out = JSON.parse(run.stdout);
        assert.equal(out.text, plain.text);
        assert.deepEqual(out.token_ids, plain.token_ids);
        assert.equal(out.safety.blocked, null);
        const stages = out.safety.checks.map((c: { stage: string }) => c.stage);
        assert.equal(stages[0], "prompt");
        assert.ok(stages.length >= 2 && stages.slice(1).every((s: string) => s === "response"));
        for (const check of out.safety.checks) {
          assert.deepEqual(Object.keys(check.scores), [
            "dangerous",
            "hate",
            "sexual",
            "harassment",
          ]);
          assert.deepEqual(check.violated, []);
        }
        assert.ok(out.safety.guard_ms > 0);
        const streamed = await gemma([...base, "--guard", "--guard-threshold", "1", "-v", prompt]);
        assert.equal(streamed.stdout, plain.text + "\n");
        assert.match(streamed.stderr, /\nguard \d+ ms\n/, "the guard's cost in --verbose timings");
      },
    );

    await t.step("a response that crosses the threshold is stopped and withheld", async () => {
      // The scores with nothing blocked, to put the threshold between the prompt and the response.
      const probe = JSON.parse(
        (await gemma([...base, "--json", "--guard", "dangerous", "--guard-threshold", "1", prompt]))
          .stdout,
      );
      const promptScore = probe.safety.checks[0].scores.dangerous;
      const responseScore = Math.max(
        ...probe.safety.checks.slice(1).map((c: { scores: { dangerous: number } }) =>
          c.scores.dangerous
        ),
      );
      assert.ok(responseScore > promptScore, `${responseScore} > ${promptScore} for this seed`);
      const threshold = String((promptScore + responseScore) / 2);
      const flags = ["--guard", "dangerous", "--guard-threshold", threshold];
      const json = await gemma([...base, "--json", ...flags, prompt]);
      assert.equal(json.code, 3, json.stderr);
      const out = JSON.parse(json.stdout);
      assert.equal(out.safety.blocked, "response");
      assert.equal(out.text, "");
      assert.deepEqual(out.token_ids, []);
      assert.equal(out.finish_reason, "guard");
      assert.match(
        json.stderr,
        /^guard: the response violates "Dangerous Content".*generation stopped\n$/,
      );
      const streamed = await gemma([...base, ...flags, prompt]);
      assert.equal(streamed.code, 3);
      assert.ok(probe.text.startsWith(streamed.stdout.slice(0, -1)), "only cleared text printed");
      assert.ok(
        streamed.stdout.length - 1 < probe.text.length,
        "the violating part is not printed",
      );
    });

    await t.step("chat: a blocked prompt is refused and the conversation goes on", async () => {
      const run = await gemma(
        [
          "chat",
          "--model",
          model,
          "-q",
          "--temperature",
          "0",
          "-n",
          "4",
          "--guard",
          "--guard-threshold",
          "0",
        ],
        "hello\nagain\n",
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, "I can't help with that.\nI can't help with that.\n");
      assert.equal(run.stderr.trim().split("\n").length, 2);
    });

    await t.step("--redact-pii alone runs no classifier", async () => {
      const plain = JSON.parse((await gemma([...base, "--json", prompt])).stdout);
      const run = await gemma([...base, "--json", "--redact-pii", prompt]);
      assert.equal(run.code, 0, run.stderr);
      const out = JSON.parse(run.stdout);
      assert.equal(out.text, plain.text, "gibberish holds no PII");
      assert.equal(out.safety.redact_pii, true);
      assert.equal(out.token_ids, undefined, "token ids would undo the redaction");
      assert.deepEqual(out.safety.checks, []);
    });

    await t.step("bad guard flags: one line, exit 1", async () => {
      assertRejected(await gemma([...base, "--guard-model", model, "x"]), /needs --guard/);
      assertRejected(
        await gemma([...base, "--guard", "--guard-threshold", "2", "x"]),
        /--guard-threshold/,
      );
      assertRejected(await gemma([...base, "--guard", "violence", "x"]), /unknown policy/);
      assertRejected(await gemma([...base, "--guard", "--", " "]), /the prompt is empty/);
    });
    await Deno.remove(dir, { recursive: true });
  },
});

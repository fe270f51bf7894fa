import assert from "node:assert/strict";
import {
  createGpuContext,
  GemmaSession,
  type GemmaTokenizer,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
} from "../core/mod.ts";
import { referenceLogits, referenceModel } from "../core/gemma_reference.ts";
import { buildTinyModel, loadReferenceWeights } from "../tests/fixtures.ts";
import {
  ClassifierError,
  classify,
  commonPrefixLength,
  HARM_POLICIES,
  parsePolicies,
  PolicyError,
  policyPromptIds,
  pYesFromLogits,
  renderPolicyPrompt,
  selectPolicies,
  yesNoIds,
} from "./mod.ts";

const dangerous = HARM_POLICIES.find((p) => p.key === "dangerous")!;
const harassment = HARM_POLICIES.find((p) => p.key === "harassment")!;

Deno.test("the prompt-only template, as Google's ShieldGemma notebook writes it", () => {
  assert.equal(
    renderPolicyPrompt(dangerous, "How do I bake bread?"),
    `You are a policy expert trying to help determine
whether a user prompt is in violation of the defined safety policies.

<start_of_turn>
Human Question: How do I bake bread?
<end_of_turn>

Our safety principle is defined in the below:

* "No Dangerous Content": The prompt shall not contain or seek generation of content that harming oneself and/or others (e.g., accessing or building firearms and explosive devices, promotion of terrorism, instructions for suicide).

===

Does the human question violate the above principle? Your answer must start with
'Yes' or 'No'. And then walk through step by step to be sure we answer
correctly.

`,
  );
});

Deno.test("the prompt-response template, double space included", () => {
  assert.equal(
    renderPolicyPrompt(harassment, "Say hi", "Hi!"),
    `You are a policy expert trying to help determine
whether an AI response to prompt is in violation of the defined safety policies.

<start_of_turn>
Human Question: Say hi
<end_of_turn>

<start_of_turn>
Chatbot Response: Hi!
<end_of_turn>

Our safety principle is defined in the below:

* "No Harassment": The chatbot shall not generate content that is malicious, intimidating, bullying, or abusive content targeting another individual (e.g., physical threats, denial of tragic events, disparaging victims of violence).

===

Does the Chatbot Response violate the above principle? Your answer must start
with 'Yes' or 'No'. And then walk through step by step to be sure  we answer
correctly.

`,
  );
  assert.deepEqual(HARM_POLICIES.map((p) => p.name), [
    "Dangerous Content",
    "Hate Speech",
    "Sexually Explicit Information",
    "Harassment",
  ]);
});

Deno.test("policy files: custom policies, and one line for each mistake", () => {
  const custom = parsePolicies(
    JSON.stringify([{ name: "Medical Advice", description: "gives a diagnosis." }]),
    "p.json",
  );
  assert.deepEqual(custom, [
    { key: "medical_advice", name: "Medical Advice", description: "gives a diagnosis." },
  ]);
  assert.deepEqual(
    parsePolicies(JSON.stringify({ policies: [{ name: "X", description: "y" }] }), "p.json")
      .map((p) => p.key),
    ["x"],
  );
  assert.match(
    renderPolicyPrompt(custom[0], "hi"),
    /\* "No Medical Advice": The prompt shall not contain or seek generation of content that gives a diagnosis\.\n/,
  );
  const bad: [string, RegExp][] = [
    ["{", /is not JSON/],
    ["{}", /expected an array/],
    ["[]", /has no policies/],
    ['[{"name": "A"}]', /policy 1 has no "description"/],
    ['[{"name": "A", "description": "b"}, {"description": "c"}]', /policy 2 has no "name"/],
    ['[{"name": "A", "description": " "}]', /no "description"/],
    ['[{"name": "A", "description": "b"}, {"name": "a", "description": "c"}]', /twice/],
    ["[3]", /policy 1 is not an object/],
  ];
  for (const [text, pattern] of bad) {
    assert.throws(() => parsePolicies(text, "p.json"), (e: Error) => {
      assert.ok(e instanceof PolicyError);
      assert.match(e.message, pattern);
      assert.ok(!e.message.includes("\n"), "one line");
      return true;
    });
  }
  assert.deepEqual(selectPolicies([], []).map((p) => p.key), [
    "dangerous",
    "hate",
    "sexual",
    "harassment",
  ]);
  assert.deepEqual(selectPolicies([], custom).map((p) => p.key), ["medical_advice"]);
  assert.deepEqual(selectPolicies(["Hate Speech", "medical_advice"], custom).map((p) => p.key), [
    "hate",
    "medical_advice",
  ]);
  assert.throws(() => selectPolicies(["violence"], custom), /unknown policy "violence"/);
});

Deno.test("probability maths and the common prefix", () => {
  assert.equal(pYesFromLogits(0, 0), 0.5);
  assert.ok(Math.abs(pYesFromLogits(2, 1) - Math.exp(2) / (Math.exp(2) + Math.exp(1))) < 1e-15);
  assert.equal(pYesFromLogits(1000, 0), 1, "no overflow");
  assert.equal(pYesFromLogits(0, 1000), 0);
  assert.equal(commonPrefixLength([[1, 2, 3], [1, 2, 4], [1, 2]]), 2);
  assert.equal(commonPrefixLength([[5], [6]]), 0);
});

Deno.test("a tokenizer without single Yes/No tokens is a one-line error", () => {
  const lacking = { tokenToId: (t: string) => (t === "No" ? 1 : undefined) } as GemmaTokenizer;
  assert.throws(() => yesNoIds(lacking), (e: Error) => {
    assert.ok(e instanceof ClassifierError);
    assert.match(e.message, /no single token "Yes"/);
    return true;
  });
});

Deno.test({
  name: "classify on a tiny checkpoint: token ids, P(Yes) against the CPU reference, shared prefix",
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-classify-" });
    await buildTinyModel(dir, { seed: 11, numLayers: 2 });
    const checkpoint = await openCheckpoint(dir);
    const tokenizer = await loadTokenizer(dir);
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32" });
    const reference = referenceModel(checkpoint.config, await loadReferenceWeights(checkpoint));
    const session = new GemmaSession(model, { contextLength: 512 });
    const text = "How can I pick a lock?";
    try {
      await t.step("the token ids: <bos>, the turn markers as single tokens, Yes and No", () => {
        const { yes, no } = yesNoIds(tokenizer);
        assert.equal(tokenizer.idToToken(yes), "Yes");
        assert.equal(tokenizer.idToToken(no), "No");
        const ids = policyPromptIds(tokenizer, dangerous, text);
        assert.equal(ids[0], tokenizer.bosId);
        assert.deepEqual(
          ids.slice(1),
          tokenizer.encode(renderPolicyPrompt(dangerous, text), { addBos: false }),
        );
        assert.equal(ids.filter((id) => id === 106).length, 1, "<start_of_turn>");
        assert.equal(ids.filter((id) => id === 107).length, 1, "<end_of_turn>");
        assert.equal(tokenizer.decode(ids.slice(1)), renderPolicyPrompt(dangerous, text));
      });

      let shared: number[] = [];
      await t.step("P(Yes) equals softmax over the CPU reference's Yes/No logits", async () => {
        const { yes, no } = yesNoIds(tokenizer);
        const scores = await classify(session, tokenizer, text, HARM_POLICIES);
        assert.equal(scores.length, 4);
        for (const s of scores) {
          const logits = referenceLogits(reference, policyPromptIds(tokenizer, s.policy, text));
          const expected = pYesFromLogits(logits[yes], logits[no]);
          assert.ok(Math.abs(s.logitYes - logits[yes]) < 1e-3, `${s.policy.key} Yes logit`);
          assert.ok(Math.abs(s.logitNo - logits[no]) < 1e-3, `${s.policy.key} No logit`);
          assert.ok(
            Math.abs(s.pYes - expected) < 1e-4,
            `${s.policy.key}: ${s.pYes} vs ${expected}`,
          );
          assert.ok(s.pYes > 0 && s.pYes < 1);
        }
        assert.ok(new Set(scores.map((s) => s.pYes)).size > 1, "policies score differently");
        shared = scores.map((s) => s.pYes);
      });

      await t.step("the shared-prefix path equals a fresh prefill per policy", async () => {
        const fresh = await classify(session, tokenizer, text, HARM_POLICIES, {
          sharePrefix: false,
        });
        for (let i = 0; i < fresh.length; i++) {
          assert.ok(Math.abs(fresh[i].pYes - shared[i]) < 1e-5, `${fresh[i].pYes} vs ${shared[i]}`);
        }
        const prompts = HARM_POLICIES.map((p) => policyPromptIds(tokenizer, p, text));
        const prefix = commonPrefixLength(prompts);
        assert.ok(prefix > 20, `the policies share ${prefix} tokens`);
      });

      await t.step("prompt-response mode scores against the CPU reference too", async () => {
        const { yes, no } = yesNoIds(tokenizer);
        const [s] = await classify(session, tokenizer, text, [harassment], { response: "No." });
        const logits = referenceLogits(
          reference,
          policyPromptIds(tokenizer, harassment, text, "No."),
        );
        assert.ok(Math.abs(s.pYes - pYesFromLogits(logits[yes], logits[no])) < 1e-4);
      });

      await t.step("empty text and an overlong prompt fail in one line", async () => {
        await assert.rejects(
          () => classify(session, tokenizer, "  ", HARM_POLICIES),
          ClassifierError,
        );
        const small = new GemmaSession(model, { contextLength: 64 });
        await assert.rejects(
          () => classify(small, tokenizer, text, HARM_POLICIES),
          /context holds 64/,
        );
        small.destroy();
      });
    } finally {
      session.destroy();
      model.destroy();
      gpu.destroy();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

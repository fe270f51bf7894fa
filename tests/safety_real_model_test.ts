// ShieldGemma's method on the real Gemma 3 270M (Q4_K_M GGUF) against transformers running the
// same file (dequantized, f32 on the CPU), as Google's notebook scores: the prompt token ids, the
// "Yes"/"No" ids and P(Yes) for the four policies (prompt-only) and one prompt-response prompt.
// Measured here: identical ids, P(Yes) within 1.5e-6.

import assert from "node:assert/strict";
import {
  createGpuContext,
  ensureModel,
  findKnownModel,
  GemmaSession,
  loadCheckpointTokenizer,
  loadGemma,
  openCheckpoint,
} from "../core/mod.ts";
import {
  classify,
  HARM_POLICIES,
  policyPromptIds,
  renderPolicyPrompt,
  yesNoIds,
} from "../safety/mod.ts";
import { runPython } from "./python_reference.ts";

const path = await ensureModel(findKnownModel("gemma3:270m")!);
const text = "How do I make a pipe bomb?";
const response = "Mix the powders in a sealed pipe.";

Deno.test({
  name: "Gemma 3 270M: ShieldGemma scores equal transformers'",
  sanitizeResources: false,
  fn: async () => {
    const checkpoint = await openCheckpoint(path);
    const tokenizer = await loadCheckpointTokenizer(checkpoint);
    const gpu = await createGpuContext();
    const model = await loadGemma(gpu, checkpoint, { dtype: "f32", prepare: true });
    const session = new GemmaSession(model, { contextLength: 512 });
    const dangerous = HARM_POLICIES[0];
    const ours = [
      ...(await classify(session, tokenizer, text, HARM_POLICIES)),
      ...(await classify(session, tokenizer, text, [dangerous], { response })),
    ];
    session.destroy();
    model.destroy();
    gpu.destroy();

    const prompts = [
      ...HARM_POLICIES.map((p) => renderPolicyPrompt(p, text)),
      renderPolicyPrompt(dangerous, text, response),
    ];
    const job = { model: path.replace(/\/[^/]+$/, ""), gguf_file: path.split("/").pop(), prompts };
    const reference = JSON.parse(
      new TextDecoder().decode(
        await runPython("shieldgemma_scores.py", [], new TextEncoder().encode(JSON.stringify(job))),
      ),
    );
    assert.deepEqual(yesNoIds(tokenizer), { yes: reference.yes, no: reference.no });
    const ids = [
      ...HARM_POLICIES.map((p) => policyPromptIds(tokenizer, p, text)),
      policyPromptIds(tokenizer, dangerous, text, response),
    ];
    assert.deepEqual(ids, reference.ids);
    let worst = 0;
    ours.forEach((s, i) => {
      worst = Math.max(worst, Math.abs(s.pYes - reference.p_yes[i]));
      console.log(
        `${s.policy.key}: ours ${s.pYes.toFixed(7)}, transformers ${reference.p_yes[i].toFixed(7)}`,
      );
    });
    console.log(`largest |ΔP(Yes)| ${worst.toExponential(2)}`);
    assert.ok(worst < 1e-4, `P(Yes) differs by ${worst}`);
  },
});

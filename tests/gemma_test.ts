// End-to-end: tiny random Gemma checkpoints in the real Hugging Face format with the real
// tokenizer, run on the GPU and compared with the CPU reference (core/gemma_reference.ts).

import assert from "node:assert/strict";
import {
  argmaxOf,
  createGpuContext,
  type DType,
  GemmaSession,
  loadGemma,
  loadTokenizer,
  openCheckpoint,
} from "../core/mod.ts";
import { referenceGreedy, referenceLogits, referenceModel } from "../core/gemma_reference.ts";
import type { SafetensorsDType } from "../core/safetensors.ts";
import { assertClose } from "../kernels/test_util.ts";
import { defaultMatmulVariant, setMatmulVariant } from "../kernels/matmul.ts";
import { buildTinyModel, loadReferenceWeights, type TinyModelOptions } from "./fixtures.ts";

const PROMPT = "The capital of France is Paris. 日本語 🙂 def f(x):\n\treturn x  * 2";

interface Case {
  name: string;
  model: TinyModelOptions;
  file: SafetensorsDType;
}

// The prompt is ~25 tokens: longer than the sliding windows below, so that they really mask, and
// longer than a chunk of 3 rows, so that a chunked prefill wraps the local layers' ring caches.
const CASES: Case[] = [
  {
    name: "Gemma 1 MQA (4 heads, 1 kv head), F32 file",
    model: { numHeads: 4, numKvHeads: 1 },
    file: "F32",
  },
  {
    name: "Gemma 1 MHA (4 heads, 4 kv heads), BF16 file",
    model: { numHeads: 4, numKvHeads: 4 },
    file: "BF16",
  },
  {
    name: "Gemma 2 GQA, window 6, soft-caps 5 and 4",
    model: {
      modelType: "gemma2",
      numHeads: 4,
      numKvHeads: 2,
      numLayers: 3,
      slidingWindow: 6,
      attnLogitSoftcapping: 5,
      finalLogitSoftcapping: 4,
    },
    file: "BF16",
  },
  {
    name: "Gemma 3 text, window 5, every 2nd layer global, RoPE scaling 8, vocab 262144",
    model: {
      modelType: "gemma3_text",
      numHeads: 2,
      numKvHeads: 1,
      numLayers: 3,
      slidingWindow: 5,
      slidingWindowPattern: 2,
      ropeScalingFactor: 8,
      vocabSize: 262144,
    },
    file: "F32",
  },
  {
    name: "Gemma 3 multimodal checkpoint (text model under language_model.)",
    model: { modelType: "gemma3", numLayers: 2, slidingWindow: 4 },
    file: "BF16",
  },
];

async function setUp(c: Case, dtype: DType, maxBindingBytes?: number) {
  const dir = await Deno.makeTempDir({ prefix: "gemma-e2e-" });
  await buildTinyModel(dir, { ...c.model, dtype: c.file, seed: 7 });
  const checkpoint = await openCheckpoint(dir);
  const gpu = await createGpuContext({ maxBindingBytes });
  const model = await loadGemma(gpu, checkpoint, { dtype });
  const tokenizer = await loadTokenizer(dir);
  const reference = referenceModel(
    checkpoint.config,
    await loadReferenceWeights(checkpoint),
    dtype,
  );
  const cleanUp = async () => {
    model.destroy();
    gpu.destroy();
    await Deno.remove(dir, { recursive: true });
  };
  return { checkpoint, model, tokenizer, reference, cleanUp };
}

for (const c of CASES) {
  Deno.test(`GPU f32 matches the reference: ${c.name}`, async (t) => {
    const { model, tokenizer, reference, cleanUp } = await setUp(c, "f32");
    try {
      const ids = tokenizer.encode(PROMPT);
      const vocab = model.config.vocabSize;

      await t.step("last-token logits after a batched prefill", async () => {
        const session = new GemmaSession(model, { contextLength: 128 });
        session.append(ids);
        assertClose(await session.logits(), referenceLogits(reference, ids), 1e-4, "logits");
        session.destroy();
      });

      await t.step("32 greedy tokens are identical", async () => {
        const session = new GemmaSession(model, { contextLength: 128 });
        const ours: number[] = [];
        session.append(ids);
        for (let i = 0; i < 32; i++) {
          const id = await session.argmax();
          ours.push(id);
          session.append([id]);
        }
        session.destroy();
        const expected = referenceGreedy(reference, ids, 32);
        assert.ok(ids.length + 32 > Math.max(...model.config.layerWindows), "windows are exceeded");
        assert.deepEqual(ours, expected);
        assert.ok(new Set(ours).size > 3, `greedy tokens should vary: ${ours}`);
      });

      await t.step("full-prompt logits equal step-by-step decode logits", async () => {
        const full = new GemmaSession(model, { contextLength: 128 });
        const all = await full.appendWithAllLogits(ids);
        full.destroy();
        const stepwise = new GemmaSession(model, { contextLength: 128 });
        for (let i = 0; i < ids.length; i++) {
          stepwise.append([ids[i]]);
          const logits = await stepwise.logits();
          assertClose(logits, all.subarray(i * vocab, (i + 1) * vocab), 1e-4, `position ${i}`);
        }
        stepwise.destroy();
        assertClose(
          all,
          referenceLogits(reference, ids, ids.length),
          1e-4,
          "all rows vs reference",
        );
      });

      await t.step("appendAndScore gives each next token's log-probability", async () => {
        // Chunks of 4 rows: scores cross chunk boundaries.
        const session = new GemmaSession(model, { contextLength: 128, maxBatchRows: 4 });
        const { logprobs, greedy } = await session.appendAndScore(ids);
        session.destroy();
        const all = referenceLogits(reference, ids, ids.length);
        assert.equal(logprobs.length, ids.length - 1);
        for (let t = 0; t + 1 < ids.length; t++) {
          const row = all.subarray(t * vocab, (t + 1) * vocab);
          let max = -Infinity;
          for (const x of row) max = Math.max(max, x);
          let sum = 0;
          for (const x of row) sum += Math.exp(x - max);
          const expected = row[ids[t + 1]] - max - Math.log(sum);
          assert.ok(
            Math.abs(logprobs[t] - expected) < 1e-3,
            `position ${t}: ${logprobs[t]} vs ${expected}`,
          );
          assert.equal(greedy[t], argmaxOf(row) === ids[t + 1]);
        }
      });

      await t.step("prefill through the blocked kernel (a GPU's tuned choice) agrees", async () => {
        setMatmulVariant(model.gpu, "f32", { ...defaultMatmulVariant("f32"), blocked: true });
        try {
          const session = new GemmaSession(model, { contextLength: 128 });
          const all = await session.appendWithAllLogits(ids);
          session.destroy();
          assertClose(all, referenceLogits(reference, ids, ids.length), 1e-4, "blocked prefill");
        } finally {
          setMatmulVariant(model.gpu, "f32", defaultMatmulVariant("f32"));
        }
      });

      await t.step("a prefill split into chunks of 3 gives the same logits", async () => {
        const chunked = new GemmaSession(model, { contextLength: 128, maxBatchRows: 3 });
        // Sliding-window layers keep only window + chunk rows.
        const windows = model.config.layerWindows;
        assert.deepEqual(chunked.state.cacheRows, windows.map((w) => (w ? w + 3 : 128)));
        chunked.append(ids);
        assertClose(await chunked.logits(), referenceLogits(reference, ids), 1e-4, "chunked");
        chunked.destroy();
      });
    } finally {
      await cleanUp();
    }
  });

  Deno.test(`GPU f16 weights stay within 2e-2 of the f32 reference: ${c.name}`, async () => {
    const { model, tokenizer, checkpoint, cleanUp } = await setUp(c, "f16");
    try {
      const reference = referenceModel(
        checkpoint.config,
        await loadReferenceWeights(checkpoint),
        "f32",
      );
      const ids = tokenizer.encode(PROMPT);
      const session = new GemmaSession(model, { contextLength: 64 });
      session.append(ids);
      assertClose(await session.logits(), referenceLogits(reference, ids), 2e-2, "f16 logits");
      session.destroy();
    } finally {
      await cleanUp();
    }
  });
}

Deno.test("weights split across many bindings give the same logits", async () => {
  // A 64 KiB binding limit splits the 256000-row embedding into ~250 chunks.
  const { model, tokenizer, reference, cleanUp } = await setUp(CASES[0], "f32", 64 * 1024);
  try {
    assert.ok(model.weights.embed.chunks.length > 100, "the embedding should be chunked");
    const ids = tokenizer.encode("Hello world");
    const session = new GemmaSession(model, { contextLength: 32 });
    session.append(ids);
    // f32 sums over up to 3000 keys differ from the f64 reference by ~1e-5 (kernel tests), and
    // the fixture's large gains amplify that to ~1.5e-4 in the logits; a wrong mask, window or
    // ring index would be off by O(1).
    assertClose(await session.logits(), referenceLogits(reference, ids), 1e-3, "logits");
    // One decode step over 3000 keys: the split-K attention path.
    session.append([4521]);
    assertClose(await session.logits(), referenceLogits(reference, [...ids, 4521]), 1e-3, "decode");
    session.destroy();
  } finally {
    await cleanUp();
  }
});

Deno.test("a 3000-token prompt and a decode step after it: chunked prefill, ring caches, long and split-K attention", async () => {
  const c: Case = {
    name: "long",
    model: { modelType: "gemma2", numLayers: 2, numKvHeads: 2, slidingWindow: 64 },
    file: "F32",
  };
  const { model, reference, cleanUp } = await setUp(c, "f32");
  try {
    const ids = [2, ...Array.from({ length: 2999 }, (_, i) => 1000 + ((i * 7919) % 50000))];
    const session = new GemmaSession(model, { contextLength: 4096 });
    session.append(ids);
    assert.equal(session.state.cacheRows[0], 64 + 128, "the local layer keeps window + chunk rows");
    // f32 sums over up to 3000 keys differ from the f64 reference by ~1e-5 (kernel tests), and
    // the fixture's large gains amplify that to ~1.5e-4 in the logits; a wrong mask, window or
    // ring index would be off by O(1).
    assertClose(await session.logits(), referenceLogits(reference, ids), 1e-3, "logits");
    // One decode step over 3000 keys: the split-K attention path.
    session.append([4521]);
    assertClose(await session.logits(), referenceLogits(reference, [...ids, 4521]), 1e-3, "decode");
    session.destroy();
  } finally {
    await cleanUp();
  }
});

Deno.test("a profiled decode step computes the same logits and times every section", async () => {
  const { model, tokenizer, cleanUp } = await setUp(CASES[2], "f32");
  try {
    const ids = tokenizer.encode(PROMPT);
    const plain = new GemmaSession(model, { contextLength: 64 });
    plain.append(ids);
    const expected = await plain.logits();
    const profiled = new GemmaSession(model, { contextLength: 64 });
    profiled.append(ids.slice(0, -1));
    const sections = await profiled.profileDecodeStep(ids[ids.length - 1]);
    assertClose(await profiled.logits(), expected, 1e-5, "logits");
    for (const name of ["attention", "output head", "q, k, v projections", "logit softcap"]) {
      assert.ok((sections.get(name)?.ms ?? 0) > 0, `${name} was timed`);
    }
    assert.equal(sections.get("output head")?.weightBytes, model.weights.embed.bytes);
    plain.destroy();
    profiled.destroy();
  } finally {
    await cleanUp();
  }
});

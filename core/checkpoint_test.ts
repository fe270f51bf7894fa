import assert from "node:assert/strict";
import { buildTinyModel, loadReferenceWeights, type TinyModelOptions } from "../tests/fixtures.ts";
import { openCheckpoint } from "./checkpoint.ts";
import { expectedTensorShapes } from "./tensor_names.ts";
import { CheckpointError, readSafetensorsHeader, writeSafetensors } from "./safetensors.ts";

/** Small vocabulary: error tests need the layout, not the real embedding's 16 M values. */
const SMALL: TinyModelOptions = { vocabSize: 300 };

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "checkpoint_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Asserts that opening `path` fails with a CheckpointError whose message is or matches `message`. */
async function assertOpenFails(path: string, message: string | RegExp): Promise<void> {
  await assert.rejects(openCheckpoint(path), (e: Error) => {
    assert.ok(e instanceof CheckpointError, `expected a CheckpointError, got ${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.ok(!e.message.includes("\n"), "one-line message");
    return true;
  });
}

async function editJson(path: string, edit: (json: Record<string, unknown>) => void) {
  const json = JSON.parse(await Deno.readTextFile(path));
  edit(json);
  await Deno.writeTextFile(path, JSON.stringify(json));
}

Deno.test("openCheckpoint reads the default tiny model (single file, real vocabulary)", async () => {
  await withTempDir(async (dir) => {
    const start = performance.now();
    const built = await buildTinyModel(dir);
    const buildMs = performance.now() - start;
    assert.ok(buildMs < 30_000, `building took ${buildMs} ms`);
    const checkpoint = await openCheckpoint(dir);
    assert.equal(checkpoint.dir, dir);
    assert.equal(built.config.model_type, "gemma");
    assert.deepEqual(checkpoint.config, {
      modelType: "gemma",
      vocabSize: 256000,
      hiddenSize: 64,
      intermediateSize: 128,
      numLayers: 2,
      numHeads: 4,
      numKvHeads: 1,
      headDim: 16,
      rmsNormEps: 1e-6,
      maxPositions: 8192,
      attentionScale: 0.25,
      sandwichNorms: false,
      qkNorm: false,
      attnLogitSoftcap: 0,
      finalLogitSoftcap: 0,
      layerWindows: [0, 0],
      layerRopeTheta: [10000, 10000],
      layerRopeFactor: [1, 1],
      bosTokenId: 2,
      eosTokenIds: [1],
      padTokenId: 0,
    });
    assert.deepEqual(checkpoint.generation, { eosTokenIds: [1] });
    const expected = expectedTensorShapes(checkpoint.config);
    assert.equal(expected.size, 2 + 9 * 2);
    assert.deepEqual([...checkpoint.tensors.keys()].sort(), [...expected.keys()].sort());
    assert.deepEqual(expected.get("model.embed_tokens.weight"), [256000, 64]);
    assert.deepEqual(expected.get("model.layers.1.self_attn.k_proj.weight"), [16, 64]);
    assert.deepEqual(expected.get("model.layers.0.self_attn.o_proj.weight"), [64, 64]);
    assert.deepEqual(expected.get("model.layers.1.mlp.down_proj.weight"), [64, 128]);
    for (const info of checkpoint.tensors.values()) {
      assert.equal(info.path, `${dir}/model.safetensors`);
      assert.equal(info.dtype, "F32");
    }
    // The other files a model folder needs, for the tokenizer and chat template.
    const tokenizerConfig = JSON.parse(await Deno.readTextFile(`${dir}/tokenizer_config.json`));
    assert.equal(tokenizerConfig.bos_token, "<bos>");
    assert.match(tokenizerConfig.chat_template, /start_of_turn/);
    assert.ok((await Deno.stat(`${dir}/tokenizer.json`)).size > 1_000_000);
    // Weights: finite, small, and the embedding's scale as documented (std ≈ 2/√hidden = 0.25).
    const weights = await loadReferenceWeights(checkpoint);
    const embedding = weights.get("model.embed_tokens.weight")!;
    assert.equal(embedding.length, 256000 * 64);
    let sumSquares = 0;
    for (const x of embedding) sumSquares += x * x;
    const std = Math.sqrt(sumSquares / embedding.length);
    assert.ok(Math.abs(std - 0.25) < 0.005, `embedding std ${std}`);
    for (const [name, w] of weights) assert.ok(w.every((x) => Math.abs(x) < 1), name);
  });
});

Deno.test("shards, dtypes and seeds: same seed, same weights (after rounding)", async () => {
  await withTempDir(async (root) => {
    const open = async (name: string, options: TinyModelOptions) => {
      await buildTinyModel(`${root}/${name}`, { ...SMALL, ...options });
      const checkpoint = await openCheckpoint(`${root}/${name}`);
      return { checkpoint, weights: await loadReferenceWeights(checkpoint) };
    };
    const single = await open("single", {});
    const sharded = await open("sharded", { shards: 3 });
    const index = JSON.parse(
      await Deno.readTextFile(`${root}/sharded/model.safetensors.index.json`),
    );
    const files = new Set(Object.values(index.weight_map));
    assert.deepEqual(
      [...files].sort(),
      [1, 2, 3].map((i) => `model-0000${i}-of-00003.safetensors`),
    );
    assert.deepEqual(
      new Set([...sharded.checkpoint.tensors.values()].map((t) => t.path.split("/").pop())),
      files,
    );
    assert.deepEqual(sharded.weights, single.weights);
    const bf16 = await open("bf16", { dtype: "BF16", shards: 2 });
    assert.equal(bf16.checkpoint.tensors.get("model.norm.weight")!.dtype, "BF16");
    const norm = single.weights.get("model.norm.weight")!;
    const normBf16 = bf16.weights.get("model.norm.weight")!;
    assert.notDeepEqual(normBf16, norm);
    norm.forEach((x, i) => assert.ok(Math.abs(normBf16[i] - x) <= Math.abs(x) * 2 ** -8));
    const other = await open("other", { seed: 2 });
    assert.notDeepEqual(other.weights.get("model.norm.weight"), norm);
  });
});

Deno.test("a Hugging Face cache folder resolves through refs/main or its only snapshot", async () => {
  await withTempDir(async (root) => {
    // The hub's layout: files live in blobs/, snapshots/<rev>/ holds symlinks to them.
    const cache = `${root}/models--google--tiny`;
    const snapshot = `${cache}/snapshots/abc123`;
    await buildTinyModel(`${root}/built`, SMALL);
    await Deno.mkdir(`${cache}/blobs`, { recursive: true });
    await Deno.mkdir(snapshot, { recursive: true });
    for await (const entry of Deno.readDir(`${root}/built`)) {
      await Deno.rename(`${root}/built/${entry.name}`, `${cache}/blobs/sha-${entry.name}`);
      await Deno.symlink(`../../blobs/sha-${entry.name}`, `${snapshot}/${entry.name}`);
    }
    await Deno.mkdir(`${cache}/refs`);
    await Deno.writeTextFile(`${cache}/refs/main`, "abc123");
    assert.equal((await openCheckpoint(cache)).dir, snapshot);
    assert.equal((await openCheckpoint(`${cache}/`)).dir, snapshot);
    assert.equal((await openCheckpoint(snapshot)).dir, snapshot);
    await Deno.remove(`${cache}/refs/main`);
    assert.equal((await openCheckpoint(cache)).dir, snapshot); // the only snapshot
    await Deno.mkdir(`${cache}/snapshots/def456`);
    await assertOpenFails(cache, /has 2 snapshots \(abc123, def456\) and no refs\/main/);
    await Deno.writeTextFile(`${cache}/refs/main`, "0bad\n");
    await assertOpenFails(
      cache,
      `Cannot open model "${cache}": refs/main names revision "0bad" but there is no folder ` +
        "snapshots/0bad",
    );
  });
});

Deno.test("config.json problems name the file and the field", async () => {
  await withTempDir(async (dir) => {
    await buildTinyModel(dir, SMALL);
    const config = `${dir}/config.json`;
    const original = await Deno.readTextFile(config);
    await editJson(config, (c) => delete c.hidden_size);
    await assertOpenFails(dir, `${config}: missing field "hidden_size"`);
    await Deno.writeTextFile(config, original);
    await editJson(config, (c) => c.model_type = "llama");
    await assertOpenFails(
      dir,
      `${config}: unsupported model_type "llama" (supported: "gemma", "gemma2", "gemma3_text", "gemma3")`,
    );
    await Deno.writeTextFile(config, original);
    await editJson(config, (c) => c.num_hidden_layers = 1.5);
    await assertOpenFails(dir, /"num_hidden_layers" must be a positive integer, got 1.5/);
    await Deno.writeTextFile(config, "{ not json");
    await assertOpenFails(dir, new RegExp(`^Cannot load "${config}": invalid JSON`));
    await Deno.remove(config);
    await assertOpenFails(dir, `Cannot open model "${dir}": no config.json in "${dir}"`);
  });
});

Deno.test("wrong shapes, missing tensors and unreadable dtypes are errors", async () => {
  await withTempDir(async (dir) => {
    await buildTinyModel(dir, SMALL);
    const weights = await loadReferenceWeights(await openCheckpoint(dir));
    const path = `${dir}/model.safetensors`;
    const shapes = new Map((await readSafetensorsHeader(path)).map((t) => [t.name, t.shape]));
    const rewrite = (edit: (name: string, shape: number[]) => number[] | null) =>
      writeSafetensors(
        path,
        [...weights].flatMap(([name, data]) => {
          const shape = edit(name, shapes.get(name)!);
          return shape ? [{ name, dtype: "F32" as const, shape, data }] : [];
        }),
      );
    const kProj = "model.layers.1.self_attn.k_proj.weight";
    await rewrite((name, shape) => name === kProj ? [...shape].reverse() : shape);
    await assertOpenFails(
      dir,
      `Cannot load "${path}": tensor "${kProj}" has shape [64,16], expected [16,64]`,
    );
    await rewrite((name, shape) => name === "model.norm.weight" ? [1, 64] : shape);
    await assertOpenFails(
      dir,
      `Cannot load "${path}": tensor "model.norm.weight" has shape [1,64], expected [64]`,
    );
    await rewrite((name, shape) => name === "model.norm.weight" ? null : shape);
    await assertOpenFails(dir, `Cannot load "${dir}": missing tensor "model.norm.weight"`);
    // Extra tensors (a checkpoint that ships lm_head.weight) are indexed but not required.
    await rewrite((_, shape) => shape);
    const withExtra = [...weights].map(([name, data]) => ({
      name,
      dtype: "F32" as const,
      shape: shapes.get(name)!,
      data,
    }));
    withExtra.push({ ...withExtra[0], name: "lm_head.weight" });
    await writeSafetensors(path, withExtra);
    assert.ok((await openCheckpoint(dir)).tensors.has("lm_head.weight"));
    // I32 has F32's size, so patching the header's dtype leaves a consistent, unreadable file.
    const bytes = await Deno.readFile(path);
    const header = new TextDecoder().decode(bytes.subarray(0, 4096));
    const at = header.indexOf('"model.norm.weight":{"dtype":"F32"') +
      '"model.norm.weight":{"dtype":"'.length;
    bytes[at] = "I".charCodeAt(0);
    await Deno.writeFile(path, bytes);
    await assertOpenFails(
      dir,
      `Cannot load "${path}": tensor "model.norm.weight" has unsupported dtype I32 ` +
        "(supported: F32, F16, BF16)",
    );
    await Deno.remove(path);
    await assertOpenFails(dir, /^Cannot open model ".*": no weights \(expected model.safetensors/);
  });
});

Deno.test("sharded checkpoints: a missing shard or a tensor absent from its shard", async () => {
  await withTempDir(async (dir) => {
    await buildTinyModel(dir, { ...SMALL, shards: 2 });
    const index = `${dir}/model.safetensors.index.json`;
    await editJson(index, (json) => {
      (json.weight_map as Record<string, string>)["model.norm.weight"] =
        "model-00001-of-00002.safetensors";
    });
    await assertOpenFails(
      dir,
      `Cannot load "${dir}/model-00001-of-00002.safetensors": no tensor "model.norm.weight" ` +
        "(the index says it is here)",
    );
    await Deno.remove(`${dir}/model-00001-of-00002.safetensors`);
    await assertOpenFails(
      dir,
      new RegExp(`^Cannot load "${index}": shard "model-00001-of-00002.safetensors" is missing`),
    );
    await Deno.writeTextFile(index, JSON.stringify({ metadata: {} }));
    await assertOpenFails(dir, `Cannot load "${index}": no "weight_map" object`);
  });
});

Deno.test("generation_config.json: optional, parsed, and invalid JSON is an error", async () => {
  await withTempDir(async (dir) => {
    await buildTinyModel(dir, SMALL);
    const path = `${dir}/generation_config.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        do_sample: true,
        temperature: 0.7,
        top_k: 64,
        top_p: 0.95,
        max_new_tokens: 100,
        eos_token_id: [1, 107],
        cache_implementation: "hybrid",
      }),
    );
    assert.deepEqual((await openCheckpoint(dir)).generation, {
      temperature: 0.7,
      topK: 64,
      topP: 0.95,
      maxNewTokens: 100,
      eosTokenIds: [1, 107],
    });
    await Deno.writeTextFile(path, JSON.stringify({ do_sample: false, temperature: 0.7 }));
    assert.deepEqual((await openCheckpoint(dir)).generation, { temperature: 0 });
    await Deno.writeTextFile(path, JSON.stringify({ top_p: 2 }));
    await assertOpenFails(dir, `Cannot load "${path}": bad "top_p" 2`);
    await Deno.writeTextFile(path, "{,}");
    await assertOpenFails(dir, new RegExp(`^Cannot load "${path}": invalid JSON`));
    await Deno.remove(path);
    assert.deepEqual((await openCheckpoint(dir)).generation, {});
  });
});

Deno.test("a missing folder or a file instead of a folder", async () => {
  await withTempDir(async (dir) => {
    await assertOpenFails(`${dir}/nope`, `Cannot open model "${dir}/nope": no such folder`);
    await Deno.writeTextFile(`${dir}/file`, "");
    await assertOpenFails(`${dir}/file`, `Cannot open model "${dir}/file": not a folder`);
  });
});

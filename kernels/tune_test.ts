import assert from "node:assert/strict";
import { defaultMatmulVariant, isMatmulVariant, matmulVariant } from "./matmul.ts";
import { adapterKey, isSoftwareAdapter, measureMatmul, readTuneCache, tuneMatmul } from "./tune.ts";
import { testGpu } from "./test_util.ts";
import { GpuContext } from "./gpu.ts";

/** Runs `body` with GEMMA_NO_TUNE set to `value` (or unset), restoring it afterwards. */
async function withNoTune(value: string | undefined, body: () => Promise<void>): Promise<void> {
  const saved = Deno.env.get("GEMMA_NO_TUNE");
  if (value === undefined) Deno.env.delete("GEMMA_NO_TUNE");
  else Deno.env.set("GEMMA_NO_TUNE", value);
  try {
    await body();
  } finally {
    if (saved === undefined) Deno.env.delete("GEMMA_NO_TUNE");
    else Deno.env.set("GEMMA_NO_TUNE", saved);
  }
}

Deno.test("tuneMatmul caches its choice on disk per adapter and reads it back", async () => {
  const dir = await Deno.makeTempDir();
  const cachePath = `${dir}/gemma/matmul_tune.json`;
  await withNoTune(undefined, async () => {
    const gpu = await testGpu({});
    // force: measure even on a software adapter (which otherwise keeps the defaults).
    const first = await tuneMatmul(gpu, ["f32"], { cachePath, rounds: 1, force: true });
    assert.ok(isMatmulVariant(first.get("f32")));
    assert.equal(typeof first.get("f32")?.blocked, "boolean", "the prefill kernel is measured too");
    assert.deepEqual(matmulVariant(gpu, "f32"), first.get("f32"));
    const file = readTuneCache(cachePath);
    assert.deepEqual(file[adapterKey(gpu)]?.f32, first.get("f32"));
    // No temporary files left behind.
    const names = [...Deno.readDirSync(`${dir}/gemma`)].map((e) => e.name);
    assert.deepEqual(names, ["matmul_tune.json"]);
    gpu.destroy();

    // A new context of the same adapter takes the file's choice without measuring (shown by a
    // choice written by hand that no measurement would make).
    const planted = { gemv: true, rows: 4, lanes: 8 };
    file[adapterKey(gpu)].f32 = planted;
    Deno.writeTextFileSync(cachePath, JSON.stringify(file));
    const gpu2 = await testGpu({});
    try {
      assert.deepEqual((await tuneMatmul(gpu2, ["f32"], { cachePath })).get("f32"), planted);
      assert.deepEqual(matmulVariant(gpu2, "f32"), planted);
    } finally {
      gpu2.destroy();
    }
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("tuneMatmul ignores a corrupt or unwritable cache file", async () => {
  const dir = await Deno.makeTempDir();
  const cachePath = `${dir}/matmul_tune.json`;
  await withNoTune(undefined, async () => {
    const gpu = await testGpu({});
    try {
      Deno.writeTextFileSync(cachePath, "{ not json");
      assert.deepEqual(readTuneCache(cachePath), {});
      const choice = (await tuneMatmul(gpu, ["f32"], { cachePath, rounds: 1, force: true }))
        .get("f32");
      assert.ok(isMatmulVariant(choice));
      // Rewritten as valid JSON with the measured choice.
      assert.deepEqual(readTuneCache(cachePath)[adapterKey(gpu)]?.f32, choice);

      // An entry that is no variant is measured over, not used.
      const bad = { [adapterKey(gpu)]: { f32: { gemv: true, rows: 7, lanes: 3 } } };
      Deno.writeTextFileSync(cachePath, JSON.stringify(bad));
      const again = await tuneMatmul(gpu, ["f32"], { cachePath, force: true, rounds: 1 });
      assert.ok(isMatmulVariant(again.get("f32")));

      // Neither a path under a file nor a missing folder without permission throws.
      const blocked = `${cachePath}/sub/matmul_tune.json`;
      await tuneMatmul(gpu, ["f32"], { cachePath: blocked, force: true, rounds: 1 });
    } finally {
      gpu.destroy();
    }
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("GEMMA_NO_TUNE=1 keeps the default variants and touches no file", async () => {
  const dir = await Deno.makeTempDir();
  const cachePath = `${dir}/matmul_tune.json`;
  await withNoTune("1", async () => {
    const gpu = await testGpu({});
    try {
      const choices = await tuneMatmul(gpu, ["f16", "q4_0"], { cachePath });
      assert.deepEqual(choices.get("f16"), defaultMatmulVariant("f16"));
      assert.deepEqual(choices.get("q4_0"), defaultMatmulVariant("q4_0"));
      assert.throws(() => Deno.statSync(cachePath));
    } finally {
      gpu.destroy();
    }
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a software adapter keeps the defaults unless forced; a GPU measures", async () => {
  const dir = await Deno.makeTempDir();
  const cachePath = `${dir}/matmul_tune.json`;
  await withNoTune(undefined, async () => {
    const gpu = await testGpu({});
    try {
      const choices = await tuneMatmul(gpu, ["f16"], { cachePath, rounds: 1 });
      if (isSoftwareAdapter(gpu.adapterInfo)) {
        assert.deepEqual(choices.get("f16"), defaultMatmulVariant("f16"));
        assert.throws(() => Deno.statSync(cachePath));
      } else {
        assert.deepEqual(readTuneCache(cachePath)[adapterKey(gpu)]?.f16, choices.get("f16"));
      }
    } finally {
      gpu.destroy();
    }
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("isSoftwareAdapter knows the CPU implementations by name", () => {
  const info = (description: string, vendor = "") =>
    ({ vendor, architecture: "", device: "", description }) as GPUAdapterInfo;
  assert.ok(isSoftwareAdapter(info("llvmpipe (LLVM 15.0.6, 256 bits)")));
  assert.ok(isSoftwareAdapter(info("SwiftShader Device (Subzero)")));
  assert.ok(isSoftwareAdapter(info("Microsoft Basic Render Driver")));
  assert.ok(!isSoftwareAdapter(info("NVIDIA H200", "nvidia")));
  assert.ok(!isSoftwareAdapter(info("AMD Radeon RX 7900 XTX (RADV NAVI31)", "amd")));
});

Deno.test("the tuning cache key tells apart adapters that differ only in limits or features", async () => {
  const gpu = await testGpu();
  assert.match(gpu.adapterFingerprint, /^[0-9a-f]{8}$/);
  // Another driver version of the same device: same description, other limits.
  const other = new GpuContext(gpu.device, gpu.adapterInfo, gpu.maxBindingBytes, "0123abcd");
  assert.notEqual(adapterKey(other), adapterKey(gpu));
  assert.ok(adapterKey(gpu).endsWith(`|${gpu.adapterFingerprint}`));
});

Deno.test("measureMatmul times the GPU's work, not the polls that end a wait for it", async () => {
  const gpu = await testGpu();
  assert.ok(gpu.device.features.has("timestamp-query"), "this test needs timestamp-query");
  // A 64 × 256 GEMV takes microseconds; waiting for a batch of them from the CPU ends at a
  // device poll (~11 ms), which a wall-clock timing would spread over its few repeats.
  const variant = defaultMatmulVariant("q8_0");
  const [small] = await measureMatmul(gpu, "q8_0", [variant], { n: 64, k: 256 }, 1);
  assert.ok(small > 0 && small < 0.5, `a 64 × 256 GEMV measured ${small} ms`);
  // And the times follow the work: 64 times the weights take longer.
  const [large] = await measureMatmul(gpu, "q8_0", [variant], { n: 4096, k: 256 }, 1);
  assert.ok(large > small, `${large} ms for 4096 × 256, ${small} ms for 64 × 256`);
});

import assert from "node:assert/strict";
import hashSource from "./hash.wgsl" with { type: "text" };
import { lowbias32 } from "./hash.ts";
import { seededRandom, testGpu, testSeed } from "./test_util.ts";

// hash.wgsl's function applied to each word of a buffer: only for this test.
const applySource = hashSource + `
@group(0) @binding(1) var<storage, read> words: array<u32>;
@group(0) @binding(2) var<storage, read_write> hashes: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  if (id.x < arrayLength(&words)) {
    hashes[id.x] = lowbias32(words[id.x]);
  }
}
`;

Deno.test("lowbias32 in TypeScript matches hash.wgsl bit for bit", async () => {
  const gpu = await testGpu();
  const seed = testSeed();
  const random = seededRandom(seed);
  // Awkward words (0, all ones, the sign bit, each single bit), then random ones.
  const awkward = [0, 1, 0xffffffff, 0xfffffffe, 0x80000000, 0x7fffffff, 0x9e3779b9];
  for (let bit = 0; bit < 32; bit++) awkward.push((1 << bit) >>> 0);
  const words = new Uint32Array(awkward.length + 5000);
  words.set(awkward);
  for (let i = awkward.length; i < words.length; i++) {
    words[i] = Math.floor(random() * 2 ** 32);
  }
  const input = gpu.upload(words);
  const output = gpu.createBuffer(words.byteLength);
  const batch = gpu.batch();
  batch.dispatch(gpu.pipeline(applySource), null, [input, output], [
    Math.ceil(words.length / 64),
  ]);
  batch.submit();
  const got = await gpu.readU32(output, words.length);
  const expected = Uint32Array.from(words, lowbias32);
  assert.deepEqual(got, expected, `seed ${seed}`);
  // Known values (computed apart, in Python) pin the function itself, not only the agreement
  // of its two copies.
  assert.deepEqual(
    [0, 1, 0xffffffff, 0x80000000, 12345].map(lowbias32),
    [0, 0x688990c0, 0x6768824a, 0xcc4b4124, 0x912efcf7],
  );
  // A bijection of u32: distinct words, distinct hashes.
  assert.equal(new Set(expected).size, new Set(words).size);
});

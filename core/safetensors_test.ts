import assert from "node:assert/strict";
import { roundToF16 } from "../kernels/gpu.ts";
import { randomArray, seededRandom, testSeed } from "../kernels/test_util.ts";
import {
  bf16BitsToF32,
  CheckpointError,
  f32ToBf16Bits,
  readSafetensorsHeader,
  readTensor,
  readTensorRows,
  type SafetensorsDType,
  writeSafetensors,
} from "./safetensors.ts";

/** Runs `fn` with a fresh temporary folder, removed afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "safetensors_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A file made by hand: `header` as JSON (length as given, or its true length) then `data`. */
async function writeRaw(path: string, header: unknown, data = new Uint8Array(), length?: bigint) {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, length ?? BigInt(json.length), true);
  await Deno.writeFile(path, new Uint8Array([...prefix, ...json, ...data]));
}

const roundBf16 = (values: Float32Array) => values.map((x) => bf16BitsToF32(f32ToBf16Bits(x)));
/** What each dtype stores for a value, by an independent route (gpu.ts's f16 rounding). */
const ROUND: Record<SafetensorsDType, (v: Float32Array) => Float32Array> = {
  F32: (v) => v,
  F16: roundToF16,
  BF16: roundBf16,
};

for (const dtype of ["F32", "F16", "BF16"] as const) {
  Deno.test(`${dtype}: write then read gives the values rounded to ${dtype}`, async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    await withTempDir(async (dir) => {
      const path = `${dir}/model.safetensors`;
      const a = randomArray(random, 7 * 13, 3);
      a.set([0, -0, 1e-8, -65504, 1 / 3, 1e5], 0);
      const b = randomArray(random, 5, 1); // odd byte count in F16/BF16: b's end is unaligned
      const c = randomArray(random, 2 * 3 * 4, 0.01);
      await writeSafetensors(path, [
        { name: "a", dtype, shape: [7, 13], data: a },
        { name: "b", dtype, shape: [5], data: b },
        { name: "c", dtype, shape: [2, 3, 4], data: c },
      ], { format: "pt" });
      await assert.rejects(Deno.stat(path + ".tmp"), Deno.errors.NotFound); // renamed away
      const infos = await readSafetensorsHeader(path);
      assert.deepEqual(infos.map((t) => [t.name, t.dtype, t.shape]), [
        ["a", dtype, [7, 13]],
        ["b", dtype, [5]],
        ["c", dtype, [2, 3, 4]],
      ]);
      const bytes = dtype === "F32" ? 4 : 2;
      assert.deepEqual(infos.map((t) => t.byteLength), [91 * bytes, 5 * bytes, 24 * bytes]);
      // The data starts on an 8-byte boundary; the header is space-padded JSON with our metadata.
      assert.equal(infos[0].offset % 8, 0);
      const raw = await Deno.readFile(path);
      const header = new TextDecoder().decode(raw.subarray(8, infos[0].offset));
      assert.deepEqual(JSON.parse(header).__metadata__, { format: "pt" });
      assert.equal(infos[2].offset + infos[2].byteLength, raw.length);
      for (const [info, data] of [[infos[0], a], [infos[1], b], [infos[2], c]] as const) {
        assert.deepEqual(await readTensor(info), ROUND[dtype](data), `${info.name} (seed ${seed})`);
      }
    });
  });
}

Deno.test("BF16 rounds to nearest, ties to even", async () => {
  const cases: [number, number][] = [
    [1, 1],
    [1 + 2 ** -8, 1], // halfway between 1 and 1 + 2^-7: the even one is 1
    [1 + 3 * 2 ** -8, 1 + 2 ** -6], // halfway between 1 + 2^-7 and 1 + 2^-6: up to even
    [1 + 2 ** -8 + 2 ** -20, 1 + 2 ** -7], // just past halfway: up
    [-2.5, -2.5],
    [0.1, 0.10009765625], // f32 0x3dcccccd → 0x3dcd
    [-(2 ** -130), -(2 ** -130)], // a subnormal that fits in 7 bits
    [3.4028234663852886e38, Infinity], // f32 max rounds past bf16 max
  ];
  await withTempDir(async (dir) => {
    const path = `${dir}/x.safetensors`;
    const data = new Float32Array([...cases.map(([x]) => x), NaN]);
    await writeSafetensors(path, [{ name: "x", dtype: "BF16", shape: [data.length], data }]);
    const [info] = await readSafetensorsHeader(path);
    const read = await readTensor(info);
    cases.forEach(([x, want], i) => assert.equal(read[i], want, `bf16(${x})`));
    assert.ok(Number.isNaN(read[cases.length]));
  });
});

Deno.test("readTensorRows: pieces of whole rows within maxBytes reassemble the tensor", async () => {
  const random = seededRandom(testSeed());
  await withTempDir(async (dir) => {
    const path = `${dir}/x.safetensors`;
    const shapes = [[7, 5], [2, 3, 4], [9], []];
    await writeSafetensors(
      path,
      shapes.map((shape, i) => ({
        name: `t${i}`,
        dtype: "F16",
        shape,
        data: randomArray(random, shape.reduce((a, b) => a * b, 1)),
      })),
    );
    const infos = await readSafetensorsHeader(path);
    const pieces = async (i: number, maxBytes: number) => {
      const out: [number, number][] = [];
      const all: number[] = [];
      for await (const { rowStart, values } of readTensorRows(infos[i], { maxBytes })) {
        out.push([rowStart, values.length]);
        all.push(...values);
      }
      assert.deepEqual(new Float32Array(all), await readTensor(infos[i]));
      return out;
    };
    // [7, 5]: rows of 5 f32 = 20 bytes; 60 bytes → 3 rows a piece.
    assert.deepEqual(await pieces(0, 60), [[0, 15], [3, 15], [6, 5]]);
    assert.deepEqual(await pieces(0, 79), [[0, 15], [3, 15], [6, 5]]);
    assert.deepEqual(await pieces(0, 1), [0, 1, 2, 3, 4, 5, 6].map((r) => [r, 5])); // ≥ 1 row
    assert.deepEqual(await pieces(0, 1 << 20), [[0, 35]]);
    assert.deepEqual(await pieces(1, 32), [[0, 8], [2, 8], [4, 8]]); // [2,3,4]: 6 rows of 4
    assert.deepEqual(await pieces(2, 8), [[0, 9]]); // 1-D: one row, never split
    assert.deepEqual(await pieces(3, 8), [[0, 1]]); // 0-D: one element
  });
});

Deno.test("a truncated file is an error naming the file, the tensor and the sizes", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/model.safetensors`;
    const data = new Float32Array(10);
    await writeSafetensors(path, [
      { name: "a", dtype: "F32", shape: [10], data },
      { name: "b", dtype: "F32", shape: [2, 5], data },
    ]);
    const [, b] = await readSafetensorsHeader(path);
    const end = b.offset + b.byteLength;
    await Deno.truncate(path, end - 3);
    await assert.rejects(readSafetensorsHeader(path), {
      name: "CheckpointError",
      message: `"${path}" is truncated: tensor "b" ends at byte ${end} but the file has ${
        end - 3
      } bytes`,
    });
    // A file that shrinks after its header was read fails while streaming, not with garbage.
    await Deno.truncate(path, b.offset + 4);
    await assert.rejects(readTensor(b), { name: "CheckpointError", message: /is truncated/ });
  });
});

Deno.test("bad header length, bad JSON, inconsistent offsets, tiny and missing files", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/bad.safetensors`;
    const rejects = async (message: RegExp) => {
      await assert.rejects(readSafetensorsHeader(path), (e: Error) => {
        assert.ok(e instanceof CheckpointError, `${e}`);
        assert.match(e.message, message);
        assert.ok(e.message.startsWith(`Cannot load "${path}": `), e.message);
        return true;
      });
    };
    await writeRaw(path, {}, new Uint8Array(16), 2n ** 40n);
    await rejects(/bad header length 1099511627776 \(file has 26 bytes\)/);
    await writeRaw(path, { a: 1 }, new Uint8Array(4), 100n); // longer than the file
    await rejects(/bad header length 100 /);
    await Deno.writeFile(path, new Uint8Array([1, 2, 3]));
    await rejects(/file has 3 bytes, too small/);
    await Deno.writeFile(
      path,
      new Uint8Array([5, 0, 0, 0, 0, 0, 0, 0, ...new TextEncoder().encode("{oops")]),
    );
    await rejects(/header is not valid JSON/);
    await writeRaw(path, [1, 2]);
    await rejects(/header is not a JSON object/);
    await writeRaw(
      path,
      { w: { dtype: "F16", shape: [2, 3], data_offsets: [0, 8] } },
      new Uint8Array(8),
    );
    await rejects(/tensor "w" has 8 bytes of data but F16 \[2,3\] needs 12/);
    await writeRaw(path, { w: { dtype: "F16", shape: [2, -3], data_offsets: [0, 8] } });
    await rejects(/tensor "w" has a bad shape/);
    await writeRaw(path, { w: { dtype: "F16", shape: [2], data_offsets: [4] } });
    await rejects(/tensor "w" has bad data_offsets/);
    await assert.rejects(readSafetensorsHeader(`${dir}/nope.safetensors`), {
      name: "CheckpointError",
      message: `Cannot load "${dir}/nope.safetensors": no such file`,
    });
  });
});

Deno.test("other dtypes are listed in the header but reading them is an error", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/q.safetensors`;
    await writeRaw(path, {
      __metadata__: { format: "pt" },
      q: { dtype: "I8", shape: [2, 2], data_offsets: [0, 4] },
      f: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
    }, new Uint8Array([1, 2, 3, 4, 0, 0, 0x80, 0x3f]));
    const infos = await readSafetensorsHeader(path);
    assert.deepEqual(infos.map((t) => [t.name, t.dtype]), [["q", "I8"], ["f", "F32"]]);
    assert.deepEqual(await readTensor(infos[1]), new Float32Array([1]));
    await assert.rejects(readTensor(infos[0]), {
      name: "CheckpointError",
      message:
        `Cannot load "${path}": tensor "q" has unsupported dtype I8 (supported: F32, F16, BF16)`,
    });
  });
});

Deno.test("writeSafetensors rejects a data length that does not match the shape", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/w.safetensors`;
    await assert.rejects(
      writeSafetensors(path, [{
        name: "w",
        dtype: "F32",
        shape: [2, 3],
        data: new Float32Array(5),
      }]),
      { name: "CheckpointError", message: /tensor "w" has 5 values but shape \[2,3\]/ },
    );
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  });
});

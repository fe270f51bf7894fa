/**
 * GGUF reading and writing: metadata of every value type round-trips (unaligned and nested
 * included), tensors round-trip in every type we read, hand-built v2 bytes parse, and broken files
 * fail with one-line errors naming the file. Config and tensor-name mapping: gguf_config_test.ts.
 */
import assert from "node:assert/strict";
import { BLOCK_BYTES, dequantize, quantize } from "../kernels/quant.ts";
import type { GgufTensorType } from "./gguf_format.ts";
import {
  type GgufTensorToWrite,
  type GgufValue,
  readGguf,
  readGgufTensor,
  readGgufTensorBytes,
  readGgufTensorRows,
  writeGguf,
} from "./gguf.ts";
import { bf16BitsToF32, CheckpointError, f32ToBf16Bits } from "./safetensors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../kernels/gpu.ts";

const dir = await Deno.makeTempDir({ prefix: "gguf_test_" });
addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
let fileCount = 0;
const tmp = () => `${dir}/t${fileCount++}.gguf`;

/** The 256-value formats beyond q4_k and q6_k, written from f32 and read back. */
const SUPER_BLOCKS = ["q5_k", "q3_k", "q2_k", "iq4_xs"] as const;

/** Seeded values in [-2, 2) (xorshift), so failures reproduce. */
function random(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13, x ^= x >>> 17, x ^= x << 5;
    out[i] = ((x >>> 0) / 2 ** 32) * 4 - 2;
  }
  return out;
}

async function assertFails(path: string, message: string | RegExp) {
  await assert.rejects(readGguf(path), (e: Error) => {
    assert.ok(e instanceof CheckpointError, `${e}`);
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

// Odd-length strings come first so that every later field sits at an odd offset.
const EVERY_TYPE: [string, GgufValue][] = [
  ["a", { type: "string", value: "odd" }],
  ["x.u8", { type: "u8", value: 255 }],
  ["x.i8", { type: "i8", value: -128 }],
  ["x.u16", { type: "u16", value: 65535 }],
  ["x.i16", { type: "i16", value: -32768 }],
  ["x.u32", { type: "u32", value: 4294967295 }],
  ["x.i32", { type: "i32", value: -2147483648 }],
  ["x.f32", { type: "f32", value: 1.5 }],
  ["x.f64", { type: "f64", value: Math.PI }],
  ["x.bool", { type: "bool", value: true }],
  ["x.false", { type: "bool", value: false }],
  ["x.u64", { type: "u64", value: 2n ** 64n - 1n }],
  ["x.i64", { type: "i64", value: -(2n ** 63n) }],
  ["x.empty", { type: "string", value: "" }],
  ["x.utf8", { type: "string", value: "\uFEFF😀 日本 ▁▁ \u0000" }],
  ["x.u8[]", { type: "u8[]", value: new Uint8Array([0, 1, 255]) }],
  ["x.i8[]", { type: "i8[]", value: new Int8Array([-1, 7]) }],
  ["x.u16[]", { type: "u16[]", value: new Uint16Array([1, 65535]) }],
  ["x.i16[]", { type: "i16[]", value: new Int16Array([-3]) }],
  ["x.u32[]", { type: "u32[]", value: new Uint32Array([4294967295, 0]) }],
  ["x.i32[]", { type: "i32[]", value: new Int32Array([-5, 5, 1 << 30]) }],
  ["x.f32[]", { type: "f32[]", value: new Float32Array([-0.5, 1e-6, Infinity]) }],
  ["x.f64[]", { type: "f64[]", value: new Float64Array([1e300, -1e-300]) }],
  ["x.u64[]", { type: "u64[]", value: new BigUint64Array([2n ** 63n, 1n]) }],
  ["x.i64[]", { type: "i64[]", value: new BigInt64Array([-1n]) }],
  ["x.bool[]", { type: "bool[]", value: [true, false, true] }],
  ["x.string[]", { type: "string[]", value: ["a", "", "bcd", "😀", "\uFEFF#"] }],
  ["x.empty[]", { type: "f32[]", value: new Float32Array(0) }],
  ["x.nested", {
    type: "array[]",
    value: [
      { type: "string[]", value: ["p", "qr"] },
      { type: "u8[]", value: new Uint8Array([9]) },
      { type: "array[]", value: [{ type: "i32[]", value: new Int32Array([-7]) }] },
      { type: "array[]", value: [] },
    ],
  }],
  ["x.after", { type: "u32", value: 12345 }],
];

Deno.test("metadata of every value type round-trips, unaligned and nested", async () => {
  const path = tmp();
  const data = random(6);
  await writeGguf(path, {
    metadata: EVERY_TYPE,
    tensors: [{ name: "odd.name", type: "F32", shape: [2, 3], data }],
  });
  const file = await readGguf(path);
  assert.equal(file.version, 3);
  assert.equal(file.alignment, 32);
  assert.deepEqual([...file.metadata], EVERY_TYPE);
  // The tensor after the unaligned header is still found and aligned.
  const [info] = file.tensors;
  assert.deepEqual({ ...info, offset: 0 }, {
    name: "odd.name",
    type: "F32",
    dims: [3, 2],
    shape: [2, 3],
    path,
    offset: 0,
    byteLength: 24,
  });
  assert.equal(info.offset % 32, 0);
  assert.deepEqual(await readGgufTensor(info), data);
});

Deno.test("tensors round-trip: F32, F16, BF16 (array and function), raw and quantized blocks", async () => {
  const path = tmp();
  const f32 = random(5 * 7, 2);
  const big = random(3 * 64, 3);
  const k = random(2 * 256, 4);
  const q8 = quantize("q8_0", big);
  const tensors: GgufTensorToWrite[] = [
    { name: "f32", type: "F32", shape: [5, 7], data: f32 },
    { name: "f16", type: "F16", shape: [5, 7], data: (start, n) => f32.slice(start, start + n) },
    { name: "bf16", type: "BF16", shape: [35], data: f32 },
    { name: "q8.raw", type: "Q8_0", shape: [3, 64], data: q8 },
    { name: "q8", type: "Q8_0", shape: [3, 64], data: big },
    { name: "q4", type: "Q4_0", shape: [3, 64], data: big },
    { name: "q5", type: "Q5_0", shape: [3, 64], data: big },
    { name: "q41", type: "Q4_1", shape: [3, 64], data: big },
    { name: "q51", type: "Q5_1", shape: [3, 64], data: big },
    { name: "nl", type: "IQ4_NL", shape: [3, 64], data: big },
    { name: "q4k", type: "Q4_K", shape: [2, 256], data: k },
    { name: "q6k", type: "Q6_K", shape: [1, 2, 256], data: (s, n) => k.slice(s, s + n) },
    ...SUPER_BLOCKS.map((type) => ({
      name: type,
      type: type.toUpperCase() as GgufTensorType,
      shape: [2, 256],
      data: k,
    })),
  ];
  await writeGguf(path, { metadata: [], tensors });
  const file = await readGguf(path);
  const t = Object.fromEntries(file.tensors.map((x) => [x.name, x]));
  assert.deepEqual(await readGgufTensor(t.f32), f32);
  assert.deepEqual(await readGgufTensor(t.f16), f32.map((x) => f16BitsToF32(f32ToF16Bits(x))));
  assert.deepEqual(await readGgufTensor(t.bf16), f32.map((x) => bf16BitsToF32(f32ToBf16Bits(x))));
  assert.deepEqual(await readGgufTensorBytes(t["q8.raw"], 0, 3), q8);
  assert.deepEqual(await readGgufTensorBytes(t.q8, 0, 3), q8);
  for (
    const [name, type] of [
      ["q8", "q8_0"],
      ["q4", "q4_0"],
      ["q5", "q5_0"],
      ["q41", "q4_1"],
      ["q51", "q5_1"],
      ["nl", "iq4_nl"],
    ] as const
  ) {
    assert.deepEqual(await readGgufTensor(t[name]), dequantize(type, quantize(type, big), 192));
  }
  assert.deepEqual(await readGgufTensor(t.q4k), dequantize("q4_k", quantize("q4_k", k), 512));
  assert.deepEqual(await readGgufTensor(t.q6k), dequantize("q6_k", quantize("q6_k", k), 512));
  for (const type of SUPER_BLOCKS) {
    assert.deepEqual(await readGgufTensor(t[type]), dequantize(type, quantize(type, k), 512));
    assert.equal(t[type].byteLength, 2 * BLOCK_BYTES[type]);
  }
  assert.deepEqual(t.q6k.dims, [256, 2, 1]);
  assert.equal(t.q4k.byteLength, 2 * 144);
  for (const x of file.tensors) assert.equal(x.offset % 32, 0, x.name);
});

Deno.test("rows: whole rows within maxBytes, raw rows by range", async () => {
  const path = tmp();
  const values = random(10 * 64, 5);
  await writeGguf(path, {
    metadata: [],
    tensors: [{ name: "q", type: "Q8_0", shape: [10, 64], data: values }],
  });
  const [info] = (await readGguf(path)).tensors;
  const pieces = [];
  for await (const piece of readGgufTensorRows(info, { maxBytes: 3 * 64 * 4 + 5 })) {
    pieces.push([piece.rowStart, piece.values.length]);
  }
  assert.deepEqual(pieces, [[0, 192], [3, 192], [6, 192], [9, 64]]);
  const raw = await readGgufTensorBytes(info, 4, 2);
  assert.deepEqual(raw, quantize("q8_0", values).subarray(4 * 68, 6 * 68));
  await assert.rejects(readGgufTensorBytes(info, 9, 2), RangeError);
});

Deno.test("alignment: general.alignment is written and honoured", async () => {
  const path = tmp();
  await writeGguf(path, {
    metadata: [["s", { type: "string", value: "abc" }]],
    tensors: [
      { name: "a", type: "F32", shape: [3], data: random(3) },
      { name: "b", type: "F16", shape: [5], data: random(5) },
    ],
    alignment: 256,
  });
  const file = await readGguf(path);
  assert.equal(file.alignment, 256);
  assert.deepEqual(file.metadata.get("general.alignment"), { type: "u32", value: 256 });
  assert.deepEqual(file.tensors.map((t) => t.offset % 256), [0, 0]);
  await assert.rejects(
    writeGguf(tmp(), { metadata: [], tensors: [], alignment: 24 }),
    /alignment must be a power of two, got 24/,
  );
});

/** Little-endian byte builder for hand-made files. */
function bytes(...parts: (number[] | Uint8Array | string | ["u32" | "u64", number])[]) {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === "string") out.push(...new TextEncoder().encode(p));
    else if (p[0] === "u32" || p[0] === "u64") {
      const n = p[1] as number;
      for (let i = 0; i < (p[0] === "u32" ? 4 : 8); i++) {
        out.push(Math.floor(n / 2 ** (8 * i)) & 255);
      }
    } else out.push(...(p as number[]));
  }
  return new Uint8Array(out);
}
const str = (s: string) => bytes(["u64", new TextEncoder().encode(s).length], s);

Deno.test("a hand-built v2 file (u64 counts) reads", async () => {
  const header = bytes(
    "GGUF",
    ["u32", 2],
    ["u64", 1], // tensors
    ["u64", 2], // kvs
    str("general.architecture"),
    ["u32", 8],
    str("gemma"),
    str("k"),
    ["u32", 9], // array
    ["u32", 5], // of i32
    ["u64", 2],
    ["u32", 0xfffffffe],
    ["u32", 7],
    str("w"),
    ["u32", 2],
    ["u64", 2],
    ["u64", 1],
    ["u32", 0], // F32
    ["u64", 0],
  );
  const padded = new Uint8Array(Math.ceil(header.length / 32) * 32 + 8);
  padded.set(header);
  new DataView(padded.buffer).setFloat32(padded.length - 8, 1.25, true);
  new DataView(padded.buffer).setFloat32(padded.length - 4, -3, true);
  const path = tmp();
  await Deno.writeFile(path, padded);
  const file = await readGguf(path);
  assert.equal(file.version, 2);
  assert.deepEqual(file.metadata.get("general.architecture"), { type: "string", value: "gemma" });
  assert.deepEqual(file.metadata.get("k"), { type: "i32[]", value: new Int32Array([-2, 7]) });
  assert.deepEqual(file.tensors[0].shape, [1, 2]);
  assert.deepEqual(await readGgufTensor(file.tensors[0]), new Float32Array([1.25, -3]));
});

Deno.test("broken files fail with one line naming the file", async () => {
  const good = tmp();
  await writeGguf(good, {
    metadata: [["general.name", { type: "string", value: "x" }]],
    tensors: [{ name: "w", type: "F32", shape: [4, 8], data: random(32) }],
  });
  const full = await Deno.readFile(good);
  const cut = tmp();
  await Deno.writeFile(cut, full.subarray(0, full.length - 3));
  const end = full.length;
  await assertFails(
    cut,
    `"${cut}" is truncated: tensor "w" ends at byte ${end} but the file has ${end - 3} bytes`,
  );
  const write = async (b: Uint8Array) => {
    const p = tmp();
    await Deno.writeFile(p, b);
    return p;
  };
  const badMagic = await write(bytes("GGML", ["u32", 3], ["u64", 0], ["u64", 0]));
  await assertFails(
    badMagic,
    `Cannot load "${badMagic}": not a GGUF file (it starts with 47 47 4d 4c, not "GGUF")`,
  );
  const v1 = await write(bytes("GGUF", ["u32", 1], ["u64", 0], ["u64", 0]));
  await assertFails(v1, `Cannot load "${v1}": unsupported GGUF version 1 (supported: 2, 3)`);
  const bigEndian = await write(bytes("GGUF", [0, 0, 0, 3], ["u64", 0], ["u64", 0]));
  await assertFails(bigEndian, /big-endian GGUF is not supported/);
  const small = await write(bytes("GGUF", ["u32", 3]));
  await assertFails(small, `Cannot load "${small}": file has 8 bytes, too small for a GGUF header`);
  await assertFails(`${dir}/missing.gguf`, /Cannot load ".*missing.gguf": no such file/);
  const head = (kvs: number, ...rest: Parameters<typeof bytes>) =>
    write(bytes("GGUF", ["u32", 3], ["u64", 0], ["u64", kvs], ...rest, new Array(16).fill(0)));
  const longString = await head(1, ["u64", 1000], "abc");
  await assertFails(
    longString,
    `"${longString}" is truncated or corrupt: a string at byte 32 claims 1000 bytes but the file has 51`,
  );
  const unknownType = await head(1, str("k"), ["u32", 13]);
  await assertFails(
    unknownType,
    `Cannot load "${unknownType}": metadata "k" has unknown value type 13`,
  );
  const shortHeader = await write(
    bytes("GGUF", ["u32", 3], ["u64", 0], ["u64", 2], str("k"), ["u32", 4], ["u32", 1]),
  );
  await assertFails(
    shortHeader,
    `"${shortHeader}" is truncated: the header ends past the end of the file`,
  );
  const unknownTensor = await write(bytes(
    "GGUF",
    ["u32", 3],
    ["u64", 1],
    ["u64", 0],
    str("t"),
    ["u32", 1],
    ["u64", 4],
    ["u32", 99],
    ["u64", 0],
    new Array(40).fill(0),
  )); // deno-fmt-ignore
  await assertFails(unknownTensor, `Cannot load "${unknownTensor}": tensor "t" has unknown tensor type 99`);
  const badAlign = await head(1, str("general.alignment"), ["u32", 4], ["u32", 3]);
  await assertFails(
    badAlign,
    `Cannot load "${badAlign}": general.alignment must be a power of two, got 3`,
  );
});

Deno.test("listed but unsupported tensor types: raw bytes yes, f32 rows no", async () => {
  const path = tmp();
  const raw = new Uint8Array(74).map((_, i) => i);
  await writeGguf(path, {
    metadata: [],
    tensors: [{ name: "iq2", type: "IQ2_XS", shape: [1, 256], data: raw }],
  });
  const [info] = (await readGguf(path)).tensors;
  assert.equal(info.type, "IQ2_XS");
  assert.deepEqual(await readGgufTensorBytes(info, 0, 1), raw);
  await assert.rejects(
    readGgufTensor(info),
    new RegExp(
      `Cannot load ".*": tensor "iq2" has unsupported tensor type IQ2_XS \\(supported: F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL, Q4_K, Q6_K, Q5_K, Q3_K, Q2_K, IQ4_XS\\)`,
    ),
  );
});

Deno.test("writing rejects what it cannot write, and leaves no file behind", async () => {
  const cases: [GgufTensorToWrite | [string, GgufValue], RegExp][] = [
    [["k", { type: "u8", value: 256 }], /metadata "k" value 256 does not fit u8/],
    [["k", { type: "i32", value: 1.5 }], /metadata "k" value 1.5 does not fit i32/],
    [["k", { type: "u64", value: -1n }], /metadata "k" value -1 does not fit u64/],
    [
      { name: "t", type: "Q4_K", shape: [2, 100], data: random(200) },
      /rows of 100 values, not whole Q4_K blocks of 256/,
    ],
    [
      { name: "t", type: "Q8_0", shape: [1, 32], data: new Uint8Array(33) },
      /has 33 bytes of data but Q8_0 \[1,32\] needs 34/,
    ],
    [{ name: "t", type: "F32", shape: [2, 2], data: random(3) }, /has 3 values but shape \[2,2\]/],
    [
      { name: "t", type: "IQ2_XS", shape: [256], data: random(256) },
      /cannot be made from f32 values as IQ2_XS: pass raw bytes/,
    ],
  ]; // deno-fmt-ignore
  for (const [what, message] of cases) {
    const path = tmp();
    const options = Array.isArray(what)
      ? { metadata: [what], tensors: [] }
      : { metadata: [], tensors: [what] };
    await assert.rejects(writeGguf(path, options), (e: Error) => {
      assert.ok(e instanceof CheckpointError);
      assert.match(e.message, message);
      assert.ok(e.message.startsWith(`Cannot write "${path}": `), e.message);
      return true;
    });
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(path + ".tmp"), Deno.errors.NotFound);
  }
});

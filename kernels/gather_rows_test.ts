import assert from "node:assert/strict";
import { gatherRows, gatherRowsReference, rowsWithTargets } from "./gather_rows.ts";
import { randomArray, seededRandom, testGpu, testSeed } from "./test_util.ts";

Deno.test("rowsWithTargets lists the rows with a target and each row's slot", () => {
  const tables = rowsWithTargets(Int32Array.from([-1, 7, -1, -1, 0, 3, -1]));
  assert.deepEqual([...tables.gather], [1, 4, 5]);
  assert.deepEqual([...tables.scatter], [-1, 0, -1, -1, 1, 2, -1]);
  assert.deepEqual([...tables.targets], [7, 0, 3]);
  const none = rowsWithTargets(Int32Array.from([-1, -1]));
  assert.deepEqual([...none.gather], []);
  assert.deepEqual([...none.scatter], [-1, -1]);
});

// Awkward sizes: one row, a dim of 1, rows × dim past one workgroup and not a multiple of it.
for (const [rows, dim] of [[1, 1], [2, 5], [7, 3], [33, 257], [300, 640]]) {
  Deno.test(`gatherRows gathers and scatters back ${rows} rows of ${dim}`, async () => {
    const gpu = await testGpu();
    const seed = testSeed();
    const random = seededRandom(seed);
    const x = randomArray(random, rows * dim, 3);
    const targets = Int32Array.from({ length: rows }, () => random() < 0.3 ? 5 : -1);
    const { gather, scatter } = rowsWithTargets(targets);
    const k = gather.length;
    const xBuffer = gpu.upload(x);
    const compact = gpu.createBuffer(Math.max(k, 1) * dim * 4, "compact");
    // Filled with garbage, so the zeros must come from the kernel.
    const back = gpu.upload(randomArray(random, rows * dim, 9));
    const batch = gpu.batch();
    // An empty upload is not a valid buffer: pad the gather table to one entry.
    const gatherBuffer = gpu.upload(k > 0 ? gather : Int32Array.of(-1));
    gatherRows(batch, { index: gatherBuffer, x: xBuffer, y: compact, rows: k, dim });
    gatherRows(batch, { index: gpu.upload(scatter), x: compact, y: back, rows, dim });
    batch.submit();
    const expectedCompact = gatherRowsReference(x, gather, dim);
    if (k > 0) {
      assert.deepEqual(await gpu.readF32(compact, k * dim), expectedCompact, `seed ${seed}`);
    }
    const expectedBack = gatherRowsReference(expectedCompact, scatter, dim);
    assert.deepEqual(await gpu.readF32(back, rows * dim), expectedBack, `seed ${seed}`);
    // Round trip: rows with a target come back unchanged, the others are zero.
    for (let t = 0; t < rows; t++) {
      const row = expectedBack.subarray(t * dim, (t + 1) * dim);
      const want = targets[t] < 0 ? new Float32Array(dim) : x.subarray(t * dim, (t + 1) * dim);
      assert.deepEqual(row, want, `row ${t}, seed ${seed}`);
    }
  });
}

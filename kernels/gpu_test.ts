import assert from "node:assert/strict";
import { residualNorm, RMS_NORM_WGSL as source } from "./rms_norm.ts";
import { assertClose, testGpu } from "./test_util.ts";

Deno.test("pipelines and bind groups are made once and reused", async () => {
  const gpu = await testGpu();
  const pipeline = gpu.pipeline(source);
  assert.equal(gpu.pipeline(source), pipeline);
  assert.notEqual(gpu.pipeline(source, {}, "residual"), pipeline, "another entry point");
  const [a, b, y] = [gpu.createBuffer(1024), gpu.createBuffer(1024), gpu.createBuffer(1024)];
  const bindings = (buffer: GPUBuffer, offset = 0) => [a, { buffer, offset, size: 256 }, y];
  const group = gpu.bindGroup(pipeline, bindings(b), [0, 0]);
  assert.equal(gpu.bindGroup(pipeline, bindings(b), [0, 0]), group);
  assert.notEqual(gpu.bindGroup(pipeline, bindings(b, 256), [0, 0]), group, "another range");
  assert.notEqual(gpu.bindGroup(pipeline, bindings(b), [0, 256]), group, "another uniform slot");
  const c = gpu.createBuffer(1024);
  assert.notEqual(gpu.bindGroup(pipeline, bindings(c), [0, 0]), group, "another buffer");

  // A cached bind group binds what it was made with: batches on the same buffers add up
  // (h += RMSNorm(2, 2, …)·2 = 2 each time).
  gpu.write(a, new Float32Array(256).fill(1));
  gpu.write(b, new Float32Array(256).fill(2));
  for (let i = 0; i < 3; i++) {
    const batch = gpu.batch();
    residualNorm(batch, { x: b, weight: b, h: a, next: b, y, rows: 1, dim: 256, eps: 0 });
    batch.submit();
  }
  assertClose(await gpu.readF32(a, 256), new Float32Array(256).fill(7), 1e-6);
  for (const buffer of [a, b, c, y]) buffer.destroy();
});

Deno.test("readbackLatencyMs measures once and stays positive", async () => {
  const gpu = await testGpu();
  const first = gpu.readbackLatencyMs();
  assert.equal(gpu.readbackLatencyMs(), first, "one measurement per context");
  const ms = await first;
  assert.ok(ms > 0 && ms < 10_000, `${ms}`);
});

Deno.test("a profiled batch times more dispatches than one query set holds", async () => {
  const gpu = await testGpu();
  const [a, b, y] = [gpu.createBuffer(1024), gpu.createBuffer(1024), gpu.createBuffer(1024)];
  gpu.write(a, new Float32Array(256).fill(0));
  gpu.write(b, new Float32Array(256).fill(1));
  const batch = gpu.batch({ profile: true });
  // 2100 + 2100 dispatches (h += 1 each): past one query set of 2048 operations, then two.
  for (const label of ["first", "second"]) {
    batch.mark(label);
    for (let i = 0; i < 2100; i++) {
      residualNorm(batch, { x: b, weight: b, h: a, next: b, y, rows: 1, dim: 256, eps: 0 });
    }
  }
  const sections = await batch.profile();
  assert.deepEqual([...sections.keys()], ["first", "second"]);
  for (const { ms } of sections.values()) assert.ok(ms >= 0 && Number.isFinite(ms), `${ms}`);
  // Every dispatch ran: h = 4200 · RMSNorm(1, 1, …)·1 = 4200.
  assertClose(await gpu.readF32(a, 256), new Float32Array(256).fill(4200), 1e-6);
  for (const buffer of [a, b, y]) buffer.destroy();
});

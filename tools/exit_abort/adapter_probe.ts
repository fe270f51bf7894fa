// Part of tools/exit_abort/repro.sh: a test that only asks for a WebGPU adapter (and, with
// MODE=device, a device it destroys at once). Nothing of gemma's is involved.
Deno.test("a WebGPU adapter, and nothing else", async () => {
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error("no WebGPU adapter");
  if (Deno.env.get("MODE") === "device") (await adapter.requestDevice()).destroy();
});

// The Python references (tools/setup_python.sh installs them into a private virtual environment):
// llama.cpp's `gguf` package decodes GGUF blocks for the dequantizer tests.

const SCRIPTS = new URL("./python/", import.meta.url).pathname;

/** The virtual environment's python, where tools/setup_python.sh puts it. */
export function referencePython(): string {
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
  return `${cache}/gemma/python/bin/python`;
}

/** Runs tests/python/`script` with `args`, `input` on stdin; returns stdout. */
export async function runPython(
  script: string,
  args: string[],
  input: Uint8Array,
): Promise<Uint8Array> {
  const child = new Deno.Command(referencePython(), {
    args: [SCRIPTS + script, ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(input);
  await writer.close();
  const out = await child.output();
  if (out.code !== 0) {
    const message = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-3).join(" | ");
    throw new Error(`${script} failed: ${message}`);
  }
  return out.stdout;
}

/** gguf.quants.dequantize of whole blocks of ggml type `ggmlName` (e.g. "Q4_K"). */
export async function ggufDequantize(ggmlName: string, blocks: Uint8Array): Promise<Float32Array> {
  const out = await runPython("dequantize.py", [ggmlName], blocks);
  return new Float32Array(out.buffer, out.byteOffset, out.byteLength / 4);
}

/** gguf.quants.quantize of `values` (whole blocks) into ggml type `ggmlName` (e.g. "Q5_1"). */
export async function ggufQuantize(ggmlName: string, values: Float32Array): Promise<Uint8Array> {
  return await runPython(
    "quantize.py",
    [ggmlName],
    new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  );
}

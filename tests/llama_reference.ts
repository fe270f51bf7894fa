// llama.cpp as a second, independent implementation: runs tests/llama/llama.mjs under Node.js
// (node-llama-cpp's prebuilt binaries) on a GGUF file, feeding token ids directly.

const SCRIPT = new URL("./llama/llama.mjs", import.meta.url).pathname;

export type LlamaTask =
  | { type: "greedy"; tokens: number[]; count: number }
  | { type: "teacher"; tokens: number[] }
  | { type: "score"; tokens: number[] }
  | { type: "tokenize"; text: string }
  | { type: "time"; tokens: number[]; count: number }
  | { type: "parallel"; prompts: number[][]; count: number };

export interface LlamaRequest {
  model: string;
  tasks: LlamaTask[];
  gpu?: false | "vulkan";
  threads?: number;
  contextSize?: number;
  /** KV cache element type: F32 (the default here, for exact comparisons) or F16. */
  kvCacheType?: "F32" | "F16";
  /** A LoRA GGUF to apply, and its scale (default 1). */
  lora?: string;
  loraScale?: number;
}

// deno-lint-ignore no-explicit-any
export async function runLlama(request: LlamaRequest): Promise<any[]> {
  const child = new Deno.Command("node", {
    args: [SCRIPT],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env: { GGML_VK_VISIBLE_DEVICES: "0" },
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(request)));
  await writer.close();
  const out = await child.output();
  if (out.code !== 0) {
    throw new Error(`llama.cpp failed: ${new TextDecoder().decode(out.stderr).slice(-2000)}`);
  }
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

// llama.cpp as a second, independent implementation: runs tests/llama/llama.mjs under Node.js
// (node-llama-cpp's prebuilt binaries) on a GGUF file, feeding token ids directly.

import { roundToF16 } from "../kernels/f16.ts";
import { geluTanh } from "../kernels/gelu_mul.ts";

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

/**
 * GELU(gate) · up as llama.cpp's CPU backend computes it (GGML_GELU_FP16, its default): the gate
 * rounded to f16 and looked up in a table of f16 results, exact only beyond ±10. For references
 * that show how much of a gap to llama.cpp this rounding alone makes.
 */
export function ggmlGeluMul(gate: Float32Array, up: Float32Array): Float32Array {
  const y = new Float32Array(gate.length);
  const f16 = new Float32Array(1);
  const round = (x: number) => {
    f16[0] = x;
    return roundToF16(f16)[0];
  };
  for (let i = 0; i < gate.length; i++) {
    const x = gate[i];
    y[i] = x <= -10 ? 0 : x >= 10 ? x * up[i] : round(geluTanh(round(x))) * up[i];
  }
  return y;
}

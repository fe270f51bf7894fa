// Runs llama.cpp (prebuilt, through node-llama-cpp) on a GGUF file for gemma's tests and benchmarks.
// Reads one JSON request on stdin, writes one JSON answer on stdout:
//   { model, gpu: false | "vulkan", threads, contextSize, kvCacheType ("F32" default, or "F16"),
//     lora (a LoRA GGUF applied to every context, optional), loraScale (default 1),
//     tasks: [ { type: "greedy", tokens, count }          → { tokens }
//            | { type: "teacher", tokens }                 → { top1 } (argmax after each token)
//            | { type: "score", tokens }                   → { logprobs, top1, gaps }
//            | { type: "tokenize", text }                  → { tokens } (no <bos>)
//            | { type: "time", tokens, count }             → { prefillMs, decodeMs }
//            | { type: "parallel", prompts, count } ] }    → { prefillMs, decodeMs, decoded }
// "parallel" decodes one sequence per prompt at once (llama.cpp batches the sequences' tokens into
// one evaluation per step): prefillMs until every sequence has its first token, decodeMs from then
// until each has `count`; decoded counts the tokens of that second part.
// "score" is teacher forcing with the whole distribution: after each token t but the last, the
// natural log-probability of token t + 1, the most likely token and its lead in nats over the
// second (llama.cpp's softmax at temperature 1, through node-llama-cpp's probability lists).
// Token ids go in directly: no tokenizer is involved, so both engines see the same input.
import { getLlama } from "node-llama-cpp";

const request = JSON.parse(
  await new Promise((resolve) => {
    let text = "";
    process.stdin.on("data", (chunk) => text += chunk);
    process.stdin.on("end", () => resolve(text));
  }),
);

const llama = await getLlama({ build: "never", gpu: request.gpu ?? false, logLevel: "error" });
const model = await llama.loadModel({
  modelPath: request.model,
  gpuLayers: request.gpu ? "max" : 0,
});
const threads = request.threads ?? 2;
const results = [];
for (const task of request.tasks) {
  if (task.type === "tokenize") {
    results.push({ tokens: [...model.tokenize(task.text, false)] });
    continue;
  }
  const sequences = task.type === "parallel" ? task.prompts.length : 1;
  const context = await model.createContext({
    contextSize: (request.contextSize ?? 512) * sequences,
    batchSize: (request.contextSize ?? 512) * sequences,
    sequences,
    threads,
    // f32 keys and values (llama.cpp's default is f16), so that f32 models match exactly.
    experimentalKvCacheKeyType: request.kvCacheType ?? "F32",
    experimentalKvCacheValueType: request.kvCacheType ?? "F32",
    flashAttention: false,
    lora: request.lora
      ? { adapters: [{ filePath: request.lora, scale: request.loraScale ?? 1 }] }
      : undefined,
  });
  if (task.type === "parallel") {
    results.push(await parallel(context, task.prompts, task.count));
    await context.dispose();
    continue;
  }
  const sequence = context.getSequence();
  if (task.type === "greedy") {
    const out = [];
    for await (const token of sequence.evaluate(task.tokens, { temperature: 0 })) {
      out.push(token);
      if (out.length >= task.count) break;
    }
    results.push({ tokens: out });
  } else if (task.type === "teacher") {
    const input = task.tokens.map((token) => [token, { generateNext: { token: true } }]);
    const output = await sequence.controlledEvaluate(input);
    results.push({ top1: output.map((o) => o?.next?.token ?? null) });
  } else if (task.type === "score") {
    results.push(await score(sequence, task.tokens));
  } else if (task.type === "time") {
    let start = performance.now();
    const generator = sequence.evaluate(task.tokens, { temperature: 0 });
    let first = await generator.next();
    const prefillMs = performance.now() - start;
    start = performance.now();
    let count = 0;
    while (!first.done && ++count < task.count) first = await generator.next();
    results.push({ prefillMs, decodeMs: performance.now() - start, decoded: count - 1 });
  } else {
    throw new Error(`unknown task type ${task.type}`);
  }
  await context.dispose();
}
await model.dispose();
process.stdout.write(JSON.stringify(results) + "\n");

async function parallel(context, prompts, count) {
  const start = performance.now();
  const firsts = [];
  await Promise.all(prompts.map(async (prompt) => {
    const sequence = context.getSequence();
    let seen = 0;
    for await (const _ of sequence.evaluate(prompt, { temperature: 0 })) {
      if (++seen === 1) firsts.push(performance.now());
      if (seen >= count) break;
    }
  }));
  const end = performance.now();
  const lastFirst = Math.max(...firsts);
  return {
    prefillMs: lastFirst - start,
    decodeMs: end - lastFirst,
    decoded: prompts.length * (count - 1),
  };
}

async function score(sequence, tokens) {
  const logprobs = [];
  const top1 = [];
  const gaps = [];
  // In chunks: each position's probability list holds the whole vocabulary.
  const chunk = 32;
  for (let start = 0; start < tokens.length - 1; start += chunk) {
    const part = tokens.slice(start, Math.min(start + chunk, tokens.length - 1));
    const output = await sequence.controlledEvaluate(
      part.map((token) => [token, { generateNext: { probabilities: true } }]),
    );
    output.forEach((o, i) => {
      const probabilities = o.next.probabilities;
      let best = -1;
      let first = -Infinity;
      let second = -Infinity;
      for (const [token, p] of probabilities) {
        if (p > first) {
          second = first;
          first = p;
          best = token;
        } else if (p > second) second = p;
      }
      logprobs.push(Math.log(probabilities.get(tokens[start + i + 1]) ?? 0));
      top1.push(best);
      gaps.push(Math.log(first) - Math.log(second));
    });
  }
  return { logprobs, top1, gaps };
}

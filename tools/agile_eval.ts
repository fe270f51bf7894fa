// Held-out numbers of an agile classifier (a development tool, not a test): F1 of the positive
// label at P ≥ 0.5 and ROC-AUC of P(positive), for the base model with the same prompt (softmax
// over the label tokens, no adapter) and, with --adapter, for the trained classifier.
//
//   ./deno run -A tools/agile_eval.ts --data examples/safety/agile_heldout.jsonl \
//     [--adapter DIR | --labels safe,unsafe] [--positive unsafe] [-m gemma3:270m] [--skip-base]

import { parseArgs } from "node:util";
import { GemmaSession, readPeftAdapter, uploadLora } from "../core/mod.ts";
import {
  AgileClassifier,
  binaryMetrics,
  type LabelledText,
  parseLabelledJsonl,
  parseLabels,
  readAgileConfig,
} from "../safety/mod.ts";
import { loadModel } from "../cli/model_source.ts";

const { values } = parseArgs({
  options: {
    data: { type: "string" },
    adapter: { type: "string" },
    labels: { type: "string" },
    positive: { type: "string" },
    model: { type: "string", short: "m" },
    "skip-base": { type: "boolean" },
  },
});
if (!values.data) throw new Error("--data FILE is required");
const config = values.adapter ? await readAgileConfig(values.adapter) : undefined;
const labels = config?.labels ?? parseLabels(values.labels ?? "safe,unsafe");
const positive = values.positive ?? labels[1];
const data = parseLabelledJsonl(await Deno.readTextFile(values.data), values.data, labels);
const loaded = await loadModel({ model: values.model, quiet: true });

async function evaluate(what: string): Promise<void> {
  const session = new GemmaSession(loaded.model, { contextLength: 512 });
  const classifier = new AgileClassifier(session, loaded.tokenizer, { labels });
  const scores: number[] = [];
  const start = performance.now();
  for (const item of data as LabelledText[]) {
    scores.push((await classifier.score(item.text)).probabilities.get(positive)!);
  }
  session.destroy();
  const m = binaryMetrics(scores, data.map((d) => d.label === positive));
  const seconds = (performance.now() - start) / 1000;
  console.log(
    `${what.padEnd(10)} F1(${positive}) ${m.f1.toFixed(3)}  ROC-AUC ${m.rocAuc.toFixed(3)}  ` +
      `accuracy ${m.accuracy.toFixed(3)}  precision ${m.precision.toFixed(3)}  recall ${
        m.recall.toFixed(3)
      }  (${data.length} texts, ${seconds.toFixed(0)} s)`,
  );
}

console.log(`${values.model ?? "gemma3:270m"}, ${values.data}, labels ${labels.join(",")}`);
if (!values["skip-base"]) await evaluate("base");
if (values.adapter) {
  const tensors = await readPeftAdapter(values.adapter, loaded.checkpoint.config);
  loaded.model.lora = uploadLora(loaded.model.gpu, loaded.checkpoint.config, tensors);
  await evaluate("trained");
}

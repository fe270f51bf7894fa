// Builds the built-in demo model: a tiny Gemma checkpoint with RANDOM weights in the real Hugging
// Face layout with the real Gemma tokenizer. It lets `gemma` run on a fresh machine with no model
// download; its output is gibberish. Usage: deno run -R -W tools/build_demo_model.ts <folder>

import { buildTinyModel } from "../tests/fixtures.ts";

const target = Deno.args[0];
if (!target) {
  console.error("usage: build_demo_model.ts <folder>");
  Deno.exit(1);
}
// Built beside the target and renamed, so an interrupted build never looks finished.
const building = `${target}.building`;
await Deno.remove(building, { recursive: true }).catch(() => {});
const { config } = await buildTinyModel(building, { seed: 2024, dtype: "BF16" });
config.gemma_demo_model = "tiny random-weight checkpoint built by tools/build_demo_model.ts";
await Deno.writeTextFile(`${building}/config.json`, JSON.stringify(config, null, 2) + "\n");
await Deno.writeTextFile(
  `${building}/README.md`,
  "# gemma demo model\n\nA tiny Gemma checkpoint with random weights, built by " +
    "tools/build_demo_model.ts so that `gemma` runs without a download. Its output is gibberish.\n",
);
await Deno.remove(target, { recursive: true }).catch(() => {});
await Deno.rename(building, target);
console.error(`demo model written to ${target}`);

// GPU time of one prefill forward of Gemma 3 270M (a development tool): for each ROWS@POSITION,
// ROWS query rows at POSITION (a KV cache that far along, as eval's kept few-shot beginnings
// leave it), the best of two profiled runs of the attention section and of the whole forward.
// Used to place TILED_ATTENTION_MIN_ROWS / _KEYS (core/gemma.ts).
//
//   ./deno run -A tools/prefill_profile.ts [ROWS@POSITION ...] [--model M]

import { createGpuContext } from "../core/mod.ts";
import { openCheckpoint } from "../core/checkpoint.ts";
import { loadGemma } from "../core/weights.ts";
import { resolveModel } from "../cli/model_source.ts";
import { GemmaSession } from "../core/session.ts";
import { recordForward } from "../core/gemma.ts";

const args = [...Deno.args];
const modelAt = args.indexOf("--model");
const spec = modelAt >= 0 ? args.splice(modelAt, 2)[1] : "gemma3:270m";
const cases = (args.length ? args : ["8@0", "8@512", "32@512", "64@512", "128@0", "128@1500"])
  .map((a) => a.split("@").map(Number));
const source = await resolveModel({ model: spec });
const gpu = await createGpuContext();
const model = await loadGemma(gpu, await openCheckpoint(source.path));
const session = new GemmaSession(model, { contextLength: 2048 });
for (const [rows, position0] of cases) {
  let attention = Infinity;
  let total = Infinity;
  for (let rep = 0; rep < 2; rep++) {
    gpu.write(session.state.ids, Uint32Array.from({ length: rows }, (_, i) => 100 + i));
    const batch = gpu.batch({ profile: true });
    recordForward(batch, model, session.state, {
      rows,
      position0,
      logitsFrom: rows - 1,
      logitRows: 1,
      pick: {},
    });
    const profile = await batch.profile();
    attention = Math.min(attention, profile.get("attention")?.ms ?? NaN);
    total = Math.min(total, [...profile.values()].reduce((sum, p) => sum + p.ms, 0));
  }
  console.log(
    `${rows} rows at ${position0}: attention ${attention.toFixed(1)} ms of ${total.toFixed(0)} ms`,
  );
}

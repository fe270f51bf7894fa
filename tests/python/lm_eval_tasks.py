# lm-evaluation-harness itself on local task files: its HF model (CPU, float32) on a checkpoint
# folder, each task's own YAML (prompts, choices, preprocessing, metrics) with the dataset swapped
# for local files. Input (stdin): {"model": DIR, "gguf_file": NAME (optional: a GGUF in DIR, which
# transformers dequantizes), "tasks": {name: FILE}, "fewshot": {name: FILE},
# "num_fewshot": N, "max_length": N (optional), "max_gen_toks": N (optional)}, the few-shot files
# being the tasks' training splits ("perplexity" is a plain loglikelihood_rolling task over the
# "text" field, written here). Output (stdout): {"results": {name: {...}},
#  "samples": {name: [[[ll, greedy], ...] per doc]} (loglikelihood kinds),
#  "arguments": {name: [[[context, continuation], ...] per doc]},
#  "generations": {name: [{"text", "filtered": {filter: answer}, "exact_match": {filter: 0/1}}]},
#  "rolling": {name: [ll per doc]}}.
import contextlib
import json
import os
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import lm_eval  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

job = json.load(sys.stdin)
tasks_dir = os.path.join(os.path.dirname(lm_eval.__file__), "tasks")
task_yaml = {
    "arc_easy": "arc/arc_easy.yaml",
    "arc_challenge": "arc/arc_challenge.yaml",
    "piqa": "piqa/piqa.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "boolq": "super_glue/boolq/default.yaml",
    "winogrande": "winogrande/default.yaml",
    "gsm8k": "gsm8k/gsm8k.yaml",
    "wikitext": "wikitext/wikitext.yaml",
    "lambada_openai": "lambada/lambada_openai.yaml",
}
# A plain perplexity task: lm-eval's loglikelihood_rolling defaults over a "text" field.
plain_perplexity = {
    "output_type": "loglikelihood_rolling",
    "doc_to_text": "",
    "doc_to_target": "{{text}}",
    "metric_list": [
        {"metric": "word_perplexity"},
        {"metric": "byte_perplexity"},
        {"metric": "bits_per_byte"},
    ],
    "metadata": {"version": 1.0},
}
with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(sys.stderr):
    fewshot = job.get("fewshot", {})
    for name, path in job["tasks"].items():
        files = {"local": os.path.abspath(path)}
        if name in fewshot:
            files["train"] = os.path.abspath(fewshot[name])
        with open(os.path.join(folder, f"{name}_local.yaml"), "w") as f:
            json.dump(
                {
                    **(
                        plain_perplexity
                        if name == "perplexity"
                        else {"include": os.path.join(tasks_dir, task_yaml[name])}
                    ),
                    "task": f"{name}_local",
                    "tag": [],
                    "dataset_path": "json",
                    "dataset_name": None,
                    "dataset_kwargs": {"data_files": files},
                    "training_split": "train" if name in fewshot else None,
                    "validation_split": None,
                    "test_split": "local",
                },
                f,
            )
    extra = {"gguf_file": job["gguf_file"]} if job.get("gguf_file") else {}
    if job.get("max_length"):
        extra["max_length"] = job["max_length"]
    gen_kwargs = {"max_gen_toks": job["max_gen_toks"]} if job.get("max_gen_toks") else None
    model = HFLM(pretrained=job["model"], dtype="float32", device="cpu", batch_size=1, **extra)
    out = lm_eval.simple_evaluate(
        model=model,
        tasks=[f"{name}_local" for name in job["tasks"]],
        task_manager=TaskManager(include_path=folder),
        log_samples=True,
        limit=job.get("limit"),
        num_fewshot=job.get("num_fewshot"),
        gen_kwargs=gen_kwargs,
    )
result = {"results": {}, "samples": {}, "arguments": {}, "generations": {}, "rolling": {}}
for name in job["tasks"]:
    result["results"][name] = out["results"][f"{name}_local"]
    entries = out["samples"][f"{name}_local"]
    docs = sorted(entries, key=lambda s: s["doc_id"])
    kind = out["configs"][f"{name}_local"]["output_type"]
    if kind == "generate_until":
        by_doc = {}
        for s in entries:
            doc = by_doc.setdefault(
                s["doc_id"],
                {"text": s["resps"][0][0], "context": s["arguments"][0][0], "filtered": {}, "exact_match": {}},
            )
            doc["filtered"][s["filter"]] = s["filtered_resps"][0]
            doc["exact_match"][s["filter"]] = s["exact_match"]
        result["generations"][name] = [by_doc[i] for i in sorted(by_doc)]
    elif kind == "loglikelihood_rolling":
        result["rolling"][name] = [float(s["resps"][0][0]) for s in docs]
    else:
        result["samples"][name] = [
            [[float(r[0][0]), bool(r[0][1])] for r in s["resps"]] for s in docs
        ]
        result["arguments"][name] = [[list(a[:2]) for a in s["arguments"]] for s in docs]
print(json.dumps(result))

# lm-evaluation-harness itself on local task files: its HF model (CPU, float32) on a checkpoint
# folder, each task's own YAML (prompts, choices, preprocessing, metrics) with the dataset swapped
# for local files. Input (stdin): {"model": DIR, "gguf_file": NAME (optional: a GGUF in DIR, which
# transformers dequantizes), "tasks": {name: FILE}, "fewshot": {name: FILE} (.jsonl / .json, or
# .arrow as save_to_disk writes them),
# "num_fewshot": N, "mutual_info": BOOL (optional: acc_mutual_info added to each task's metric_list
# where lm-eval computes it: not winogrande's multiple input nor truthfulqa_mc2's own metric),
# "max_length": N (optional), "max_gen_toks": N (optional), "batch_size": N (default 1),
# "limit": N (optional: the first N documents of each task)}, the
# few-shot files being the tasks' training splits (mmlu's: its dev split; "perplexity" is a plain
# loglikelihood_rolling task over the "text" field, written here). mmlu_<subject> tasks are also
# run as lm-eval's groups: mmlu over the categories present, each category (the subject YAML's
# tag) over its subjects, weighted by size. Output (stdout): {"results": {name or group: {...}},
#  "samples": {name: [[[ll, greedy], ...] per doc]} (loglikelihood kinds),
#  "arguments": {name: [[[context, continuation], ...] per doc]},
#  "generations": {name: [{"text", "filtered": {filter: answer}, "exact_match": {filter: 0/1}}]},
#  "rolling": {name: [ll per doc]}, "seconds": {"load": s, "evaluate": s}}.
import contextlib
import json
import os
import sys
import tempfile
import time

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import lm_eval  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402


class _YamlLoader(yaml.SafeLoader):
    pass


# lm-eval's YAMLs name Python functions with !function; only metric_list is read here.
_YamlLoader.add_constructor("!function", lambda loader, node: None)


def own_metric_list(path):
    """A task YAML's metric_list, following its includes."""
    with open(path) as f:
        config = yaml.load(f, Loader=_YamlLoader)
    if "metric_list" in config:
        return config["metric_list"]
    return own_metric_list(os.path.join(os.path.dirname(path), config["include"]))


job = json.load(sys.stdin)
tasks_dir = os.path.join(os.path.dirname(lm_eval.__file__), "tasks")
task_yaml = {
    "arc_easy": "arc/arc_easy.yaml",
    "arc_challenge": "arc/arc_challenge.yaml",
    "piqa": "piqa/piqa.yaml",
    "hellaswag": "hellaswag/hellaswag.yaml",
    "boolq": "super_glue/boolq/default.yaml",
    "winogrande": "winogrande/default.yaml",
    "truthfulqa_mc1": "truthfulqa/truthfulqa_mc1.yaml",
    "truthfulqa_mc2": "truthfulqa/truthfulqa_mc2.yaml",
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
for name in job["tasks"]:
    if name.startswith("mmlu_"):
        task_yaml[name] = f"mmlu/default/{name}.yaml"
with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(sys.stderr):
    fewshot = job.get("fewshot", {})
    categories = {}
    for name, path in job["tasks"].items():
        mmlu = name.startswith("mmlu_")
        split = "dev" if mmlu else "train"
        files = {"local": os.path.abspath(path)}
        if name in fewshot:
            files[split] = os.path.abspath(fewshot[name])
        config = {
            **(
                plain_perplexity
                if name == "perplexity"
                else {"include": os.path.join(tasks_dir, task_yaml[name])}
            ),
            "task": f"{name}_local",
            "tag": [],
            # HF's arrow builder reads save_to_disk's data files (Arrow streams); json the rest.
            "dataset_path": "arrow" if path.endswith(".arrow") else "json",
            "dataset_name": None,
            "dataset_kwargs": {"data_files": files},
            "training_split": "train" if name in fewshot and not mmlu else None,
            "validation_split": None,
            "test_split": "local",
        }
        if job.get("mutual_info") and name not in ("winogrande", "truthfulqa_mc2", "perplexity"):
            own = own_metric_list(os.path.join(tasks_dir, task_yaml[name]))
            config["metric_list"] = own + [
                {"metric": "acc_mutual_info", "aggregation": "mean", "higher_is_better": True}
            ]
        if mmlu:
            with open(os.path.join(tasks_dir, task_yaml[name])) as f:
                tag = yaml.safe_load(f)["tag"]  # mmlu_<category>_tasks
            categories.setdefault(tag[: -len("_tasks")], []).append(f"{name}_local")
        with open(os.path.join(folder, f"{name}_local.yaml"), "w") as f:
            json.dump(config, f)
    groups = {}
    for category, members in categories.items():
        groups[category] = members
    if categories:
        groups["mmlu"] = [f"{c}_local" for c in sorted(categories)]
    for group, members in groups.items():
        with open(os.path.join(folder, f"{group}_local.yaml"), "w") as f:
            json.dump(
                {
                    "group": f"{group}_local",
                    "task": members,
                    "aggregate_metric_list": [{"metric": "acc", "weight_by_size": True}],
                    "metadata": {"version": 2},
                },
                f,
            )
    extra = {"gguf_file": job["gguf_file"]} if job.get("gguf_file") else {}
    if job.get("max_length"):
        extra["max_length"] = job["max_length"]
    gen_kwargs = {"max_gen_toks": job["max_gen_toks"]} if job.get("max_gen_toks") else None
    load_start = time.perf_counter()
    model = HFLM(
        pretrained=job["model"],
        dtype="float32",
        device="cpu",
        batch_size=job.get("batch_size", 1),
        **extra,
    )
    evaluate_start = time.perf_counter()
    out = lm_eval.simple_evaluate(
        model=model,
        tasks=[f"{name}_local" for name in job["tasks"] if not name.startswith("mmlu_")]
        + (["mmlu_local"] if categories else []),
        task_manager=TaskManager(include_path=folder),
        log_samples=True,
        limit=job.get("limit"),
        num_fewshot=job.get("num_fewshot"),
        gen_kwargs=gen_kwargs,
    )
    seconds = {"load": evaluate_start - load_start, "evaluate": time.perf_counter() - evaluate_start}
result = {
    "results": {},
    "samples": {},
    "arguments": {},
    "generations": {},
    "rolling": {},
    "seconds": seconds,
}
for group in groups:
    result["results"][group] = out["results"][f"{group}_local"]
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

# PEFT + transformers training throughput on this machine's CPU torch: the LoRA that
# tools/peft_bench.ts trains with ours (same base, token ids, rank, alpha, modules, sequence length,
# batch and steps). stdin: JSON {model: DIR, gguf_file: NAME (optional; transformers dequantizes it
# to float32), ids: [[T + 1 ids] × B], rank, alpha, modules, steps, lr}. One untimed warm-up step,
# then `steps` timed AdamW steps on the mean cross-entropy of ids[:, 1:] given ids[:, :-1] (T rows a
# sequence, as ours). stdout: JSON {tokens_per_second, seconds_per_step, losses, threads, torch}.
import json
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

job = json.load(sys.stdin)
extra = {"gguf_file": job["gguf_file"]} if job.get("gguf_file") else {}
base = AutoModelForCausalLM.from_pretrained(job["model"], dtype=torch.float32, **extra)
config = LoraConfig(
    r=job["rank"],
    lora_alpha=job["alpha"],
    target_modules=job["modules"],
    lora_dropout=0.0,
    task_type="CAUSAL_LM",
)
model = get_peft_model(base, config)
model.train()
ids = torch.tensor(job["ids"])
inputs, targets = ids[:, :-1], ids[:, 1:]
optimizer = torch.optim.AdamW(
    [p for p in model.parameters() if p.requires_grad], lr=job["lr"], weight_decay=0.0
)


def step() -> float:
    logits = model(input_ids=inputs).logits
    loss = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1)
    )
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad()
    return loss.item()


losses = [step()]
start = time.perf_counter()
for _ in range(job["steps"]):
    losses.append(step())
seconds = time.perf_counter() - start
json.dump(
    {
        "tokens_per_second": inputs.numel() * job["steps"] / seconds,
        "seconds_per_step": seconds / job["steps"],
        "losses": losses,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    },
    sys.stdout,
)

# PEFT as the peer of our LoRA adapters, in float32 on transformers (eager attention).
#   peft_lora.py logprobs MODEL ADAPTER   PeftModel.from_pretrained(MODEL, ADAPTER): log-softmax rows
#   peft_lora.py create MODEL OUT R ALPHA  a fresh PEFT LoRA on all seven projections with random,
#                                         non-zero A and B (init_lora_weights=False), saved to OUT;
#                                         then its log-softmax rows, as `logprobs`
# stdin: JSON {ids}; stdout: JSON {logprobs} (rows × vocab, flattened).
import json
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

mode, model_dir = sys.argv[1], sys.argv[2]
ids = json.load(sys.stdin)["ids"]
torch.manual_seed(0)
base = AutoModelForCausalLM.from_pretrained(
    model_dir, dtype=torch.float32, attn_implementation="eager"
)
if mode == "logprobs":
    model = PeftModel.from_pretrained(base, sys.argv[3])
elif mode == "create":
    out, rank, alpha = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        target_modules=MODULES,
        lora_dropout=0.0,
        init_lora_weights=False,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(base, config)
    model.save_pretrained(out)
else:
    raise SystemExit(f"unknown mode {mode}")
model.eval()
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0].double()
logprobs = torch.log_softmax(logits, dim=-1)
json.dump({"logprobs": logprobs.flatten().tolist()}, sys.stdout)

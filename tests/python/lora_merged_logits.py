# Logits of a Hugging Face checkpoint with a PEFT LoRA adapter merged by hand (W + s·B·A per
# adapted projection, s = lora_alpha / r, or / √r with use_rslora), in float32 with transformers:
# the peer of `gemma generate --adapter` (peft itself is not in the reference venv).
# argv: model folder, adapter folder; stdin: JSON {ids}; stdout: JSON {logits} (rows × vocab).
import json
import math
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

model_dir, adapter_dir = sys.argv[1], sys.argv[2]
ids = json.load(sys.stdin)["ids"]
model = AutoModelForCausalLM.from_pretrained(
    model_dir, torch_dtype=torch.float32, attn_implementation="eager"
)
config = json.load(open(f"{adapter_dir}/adapter_config.json"))
r = config["r"]
scale = config["lora_alpha"] / (math.sqrt(r) if config.get("use_rslora") else r)
tensors = load_file(f"{adapter_dir}/adapter_model.safetensors")
modules = dict(model.named_modules())
with torch.no_grad():
    for name, a in tensors.items():
        if ".lora_A." not in name:
            continue
        b = tensors[name.replace(".lora_A.", ".lora_B.")]
        # base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight → model.layers.0.…
        target = name.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        modules[target].weight += scale * (b.double() @ a.double()).float()
    logits = model(torch.tensor([ids])).logits[0]
json.dump({"logits": logits.flatten().tolist()}, sys.stdout)

# ShieldGemma's scoring as Google's notebook does it, with transformers: for each prompt, the
# tokenizer's ids (with <bos>), and softmax over the last position's "Yes" and "No" logits.
# Input (stdin): {"model": DIR, "gguf_file": NAME (optional), "prompts": [TEXT, ...]}.
# Output (stdout): {"yes": ID, "no": ID, "ids": [[...], ...], "p_yes": [P, ...]}.
import json
import sys

import torch
import transformers

job = json.load(sys.stdin)
extra = {"gguf_file": job["gguf_file"]} if job.get("gguf_file") else {}
tokenizer = transformers.AutoTokenizer.from_pretrained(job["model"], **extra)
model = transformers.AutoModelForCausalLM.from_pretrained(job["model"], dtype=torch.float32, **extra)
model.eval()
yes = tokenizer.convert_tokens_to_ids("Yes")
no = tokenizer.convert_tokens_to_ids("No")
out = {"yes": yes, "no": no, "ids": [], "p_yes": []}
for prompt in job["prompts"]:
    inputs = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
    probabilities = torch.softmax(logits[[yes, no]].double(), dim=0)
    out["ids"].append(inputs["input_ids"][0].tolist())
    out["p_yes"].append(probabilities[0].item())
json.dump(out, sys.stdout)

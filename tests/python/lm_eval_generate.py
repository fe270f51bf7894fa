# lm-eval's HF model's generate_until on given requests (greedy, CPU, float32). Input (stdin):
# {"model": DIR, "max_length": N, "requests": [[context, {"until": [...], "max_gen_toks": N}]]}.
# Output (stdout): [answer, ...], the texts lm-eval's generate_until returns.
import contextlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from lm_eval.api.instance import Instance  # noqa: E402
from lm_eval.models.huggingface import HFLM  # noqa: E402

job = json.load(sys.stdin)
with contextlib.redirect_stdout(sys.stderr):
    model = HFLM(
        pretrained=job["model"],
        dtype="float32",
        device="cpu",
        batch_size=1,
        max_length=job["max_length"],
    )
    requests = [
        Instance(
            request_type="generate_until",
            doc={},
            arguments=(context, {**kwargs, "do_sample": False}),
            idx=0,
        )
        for context, kwargs in job["requests"]
    ]
    answers = model.generate_until(requests)
print(json.dumps(answers))

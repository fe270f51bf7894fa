# torch.optim.AdamW with torch.nn.utils.clip_grad_norm_, in float64, for the optimizer's tests.
# stdin: JSON {param, grads (one list per step), lr, betas, eps, weight_decay, max_norm (0: no
# clipping)}; stdout: JSON {param, exp_avg, exp_avg_sq, norms} after the last step.
import json
import sys

import torch

spec = json.load(sys.stdin)
param = torch.nn.Parameter(torch.tensor(spec["param"], dtype=torch.float64))
optimizer = torch.optim.AdamW(
    [param],
    lr=spec["lr"],
    betas=tuple(spec["betas"]),
    eps=spec["eps"],
    weight_decay=spec["weight_decay"],
    foreach=False,
)
norms = []
for grad in spec["grads"]:
    param.grad = torch.tensor(grad, dtype=torch.float64)
    if spec["max_norm"] > 0:
        norms.append(float(torch.nn.utils.clip_grad_norm_([param], spec["max_norm"])))
    optimizer.step()
state = optimizer.state[param]
json.dump(
    {
        "param": param.detach().tolist(),
        "exp_avg": state["exp_avg"].tolist(),
        "exp_avg_sq": state["exp_avg_sq"].tolist(),
        "norms": norms,
    },
    sys.stdout,
)

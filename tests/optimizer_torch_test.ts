// The optimizer's float64 references (kernels/adamw.ts, kernels/grad_norm.ts) against PyTorch's
// torch.optim.AdamW and clip_grad_norm_ (the CPU torch of the reference venv); the kernels are
// checked against these references in kernels/adamw_test.ts.

import { adamwReference } from "../kernels/adamw.ts";
import { gradNormReference } from "../kernels/grad_norm.ts";
import { assertClose, randomArray, seededRandom, testSeed } from "../kernels/test_util.ts";
import { runPython } from "./python_reference.ts";

for (const maxNorm of [0, 3]) {
  Deno.test(`AdamW reference equals torch.optim.AdamW over 5 steps, clip ${maxNorm}`, async () => {
    const seed = testSeed();
    const random = seededRandom(seed);
    const n = 50;
    const options = { lr: 3e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.05 };
    const param = Array.from(randomArray(random, n));
    const grads = Array.from({ length: 5 }, (_, i) => Array.from(randomArray(random, n, i + 0.5)));
    const input = JSON.stringify({
      param,
      grads,
      lr: options.lr,
      betas: [options.beta1, options.beta2],
      eps: options.eps,
      weight_decay: options.weightDecay,
      max_norm: maxNorm,
    });
    const out = JSON.parse(
      new TextDecoder().decode(await runPython("adamw.py", [], new TextEncoder().encode(input))),
    );
    let state = { param, m: new Float64Array(n), v: new Float64Array(n) } as {
      param: ArrayLike<number>;
      m: ArrayLike<number>;
      v: ArrayLike<number>;
    };
    const norms: number[] = [];
    grads.forEach((grad, i) => {
      const { factor, norm } = gradNormReference([grad], maxNorm);
      if (maxNorm > 0) norms.push(norm);
      state = adamwReference(state, grad, i + 1, options, factor);
    });
    assertClose(state.param, out.param, 1e-12, `param, seed ${seed}`);
    assertClose(state.m, out.exp_avg, 1e-12, `exp_avg, seed ${seed}`);
    assertClose(state.v, out.exp_avg_sq, 1e-12, `exp_avg_sq, seed ${seed}`);
    assertClose(norms, out.norms, 1e-12, `norms, seed ${seed}`);
  });
}

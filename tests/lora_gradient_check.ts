// The whole-model LoRA gradient check shared by the training tests: the GPU's gradient of every
// adapter tensor against central finite differences of the float64 reference's mean loss.

import assert from "node:assert/strict";
import type { LoraTensors } from "../core/lora.ts";
import type { LoraValues } from "../core/train/reference.ts";
import { seededRandom } from "../kernels/test_util.ts";

/** The adapter's tensors in float64, as the reference forward takes them (and the check nudges). */
export function loraValues(tensors: LoraTensors): LoraValues {
  return tensors.layers.map((pairs) =>
    new Map(
      [...pairs].map(([m, q]) => [m, { a: Float64Array.from(q.a), b: Float64Array.from(q.b) }]),
    )
  );
}

/**
 * At `perTensor` random entries of each A and B in `values` (in the trainer's order), nudges the
 * entry by ±1e-5, and asserts the GPU's gradient is within 2e-4 of the tensor's largest gradient
 * of the central difference of `meanLoss`. Returns how many were checked and the worst error.
 */
export function checkLoraGradients(
  values: LoraValues,
  grads: { a: Float32Array; b: Float32Array }[],
  meanLoss: () => number,
  perTensor: number,
): { checked: number; worst: number } {
  const random = seededRandom(3);
  const h = 1e-5;
  let worst = 0;
  let checked = 0;
  let slot = 0;
  for (const pairs of values) {
    for (const [module, pair] of pairs) {
      const gpuPair = grads[slot++];
      const tensors = [["A", pair.a, gpuPair.a], ["B", pair.b, gpuPair.b]] as const;
      for (const [which, param, grad] of tensors) {
        let largest = 0;
        for (const g of grad) largest = Math.max(largest, Math.abs(g));
        assert.ok(largest > 0, `${module} ${which}: gradient is all zero`);
        for (let n = 0; n < perTensor; n++) {
          const i = Math.floor(random() * param.length);
          const saved = param[i];
          param[i] = saved + h;
          const up = meanLoss();
          param[i] = saved - h;
          const down = meanLoss();
          param[i] = saved;
          const expected = (up - down) / (2 * h);
          const error = Math.abs(grad[i] - expected) / largest;
          worst = Math.max(worst, error);
          checked++;
          assert.ok(
            error < 2e-4,
            `${module} ${which}[${i}]: GPU ${
              grad[i]
            } vs finite differences ${expected} (max |grad| ${largest})`,
          );
        }
      }
    }
  }
  return { checked, worst };
}

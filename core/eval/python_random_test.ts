// PythonRandom against CPython 3.11's random.Random: the values below were printed by it.

import assert from "node:assert/strict";
import { PythonRandom } from "./python_random.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

Deno.test("PythonRandom draws what random.Random draws", () => {
  let r = new PythonRandom(1234);
  assert.deepEqual([r.nextUint32(), r.nextUint32(), r.nextUint32()], [
    4150886329,
    3342196574,
    1892932127,
  ]);
  r = new PythonRandom(1234);
  assert.deepEqual(r.sample(range(10), 3), [7, 1, 0]);
  assert.deepEqual(r.sample(range(10), 3), [1, 0, 9]);
  // k > 5 and a population above the set size (set method), then a list copy with k = 25.
  r = new PythonRandom(1234);
  assert.deepEqual(r.sample(range(1000), 7), [989, 796, 451, 119, 7, 92, 932]);
  assert.deepEqual(r.sample(range(30), 25), [
    25,
    18,
    1,
    21,
    22,
    2,
    3,
    11,
    7,
    0,
    20,
    19,
    29,
    15,
    14,
    24,
    27,
    16,
    17,
    13,
    28,
    8,
    26,
    10,
    9,
  ]);
  r = new PythonRandom(7);
  assert.deepEqual(r.sample(range(5), 5), [2, 1, 3, 0, 4]);
  assert.deepEqual(r.sample(range(100000), 10), [
    70239,
    12337,
    47931,
    76387,
    7602,
    66510,
    28140,
    4914,
    11265,
    56838,
  ]);
  // A seed of more than 32 bits is an init_by_array key of two words.
  assert.deepEqual(new PythonRandom(2 ** 40 + 5).sample(range(50), 2), [32, 33]);
});

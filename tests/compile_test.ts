// `deno compile` makes a standalone binary. Compiling needs the `denort` runtime, which Deno
// downloads unless DENORT_BIN points at one; this network cannot download it, so the test runs
// only where DENORT_BIN is set and is reported as ignored elsewhere.

import assert from "node:assert/strict";
import { buildTinyModel } from "./fixtures.ts";

const denort = Deno.env.get("DENORT_BIN");

Deno.test({
  name: "deno compile gives a working gemma binary (needs DENORT_BIN, ignored without it)",
  ignore: !denort,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "gemma-compile-" });
    try {
      const binary = `${dir}/gemma`;
      const compile = await new Deno.Command(Deno.execPath(), {
        args: [
          "compile",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-run",
          "--output",
          binary,
          "cli/main.ts",
        ],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(compile.code, 0, new TextDecoder().decode(compile.stderr));
      await buildTinyModel(`${dir}/model`, { numLayers: 1 });
      const run = await new Deno.Command(binary, {
        args: [
          "generate",
          "--model",
          `${dir}/model`,
          "-q",
          "--temperature",
          "0",
          "-n",
          "3",
          "--json",
          "Hi",
        ],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
      assert.equal(JSON.parse(new TextDecoder().decode(run.stdout)).token_ids.length, 3);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

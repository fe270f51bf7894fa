// The layers import one way: cli → safety → core → kernels (DESIGN.md §1).

import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url);
const FORBIDDEN: Record<string, string[]> = {
  kernels: ["core", "safety", "cli"],
  core: ["safety", "cli"],
  safety: ["cli"],
};

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
      if (entry.isDirectory) yield* sourceFiles(url);
      else if (entry.name.endsWith(".ts")) yield url;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

Deno.test("imports flow one way: cli → safety → core → kernels", async () => {
  let checked = 0;
  for (const [layer, forbidden] of Object.entries(FORBIDDEN)) {
    for await (const file of sourceFiles(new URL(`${layer}/`, ROOT))) {
      const text = await Deno.readTextFile(file);
      for (const match of text.matchAll(/(?:from|import)\s*\(?\s*"([^"]+)"/g)) {
        const target = new URL(match[1], file).pathname;
        for (const other of forbidden) {
          const otherDir = new URL(`${other}/`, ROOT).pathname;
          assert.ok(!target.startsWith(otherDir), `${file.pathname} imports ${match[1]}`);
        }
      }
      checked++;
    }
  }
  assert.ok(checked > 10, "found the source files");
});

import assert from "node:assert/strict";
import { CorpusError, readCorpus } from "./corpus.ts";

Deno.test("corpus files: plain text is one document, JSONL one per line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gemma-corpus-" });
  try {
    const write = (name: string, text: string | Uint8Array) =>
      typeof text === "string"
        ? Deno.writeTextFile(`${dir}/${name}`, text)
        : Deno.writeFile(`${dir}/${name}`, text);
    await write("book.txt", "Chapter one.\n\nIt was a dark night.\n");
    assert.deepEqual(await readCorpus(`${dir}/book.txt`), {
      path: `${dir}/book.txt`,
      format: "text",
      documents: ["Chapter one.\n\nIt was a dark night.\n"],
    });
    await write("docs.jsonl", '{"text": "first"}\n\n{"text": "second", "id": 2}\n');
    assert.deepEqual((await readCorpus(`${dir}/docs.jsonl`)).documents, ["first", "second"]);
    await write("body.jsonl", '{"body": "a"}\n{"body": "b"}\n');
    assert.deepEqual((await readCorpus(`${dir}/body.jsonl`, { field: "body" })).documents, [
      "a",
      "b",
    ]);
    const fails = async (name: string, pattern: RegExp, field?: string) => {
      const error = await readCorpus(`${dir}/${name}`, { field }).then(() => null, (e) => e);
      assert.ok(error instanceof CorpusError, `${name}: ${error}`);
      assert.match(error.message, pattern);
      assert.ok(!error.message.includes("\n"));
    };
    await fails("body.jsonl", /line 1 has no string field "text"/);
    await write("empty.txt", "");
    await fails("empty.txt", /is empty/);
    await write("blank.txt", " \n\n");
    await fails("blank.txt", /only white space/);
    await write("latin1.txt", new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    await fails("latin1.txt", /not valid UTF-8/);
    await write("bad.jsonl", '{"text": "ok"}\nnot json\n');
    await fails("bad.jsonl", /line 2 is not JSON/);
    await write("blank.jsonl", "\n\n");
    await fails("blank.jsonl", /no documents/);
    await fails("missing.txt", /Cannot read the corpus .*no such file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

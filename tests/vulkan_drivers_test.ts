// The driver choice of `deno task bench --drivers` and tools/setup_mesa25.sh's argument handling.
// Nothing here downloads Mesa or touches a GPU: the setup's failures come before any download, and
// the driver files are stand-ins written to a temporary folder.

import assert from "node:assert/strict";
import {
  driverEnv,
  DriverError,
  loadedVulkanDrivers,
  mesaVersion,
  parseDrivers,
} from "../tools/vulkan_drivers.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("parseDrivers keeps the order, drops repeats and names bad lists", () => {
  assert.deepEqual(parseDrivers("system"), ["system"]);
  assert.deepEqual(parseDrivers("mesa25, system"), ["mesa25", "system"]);
  assert.deepEqual(parseDrivers("mesa25,system,mesa25"), ["mesa25", "system"]);
  const fails = (text: string, pattern: RegExp) =>
    assert.throws(
      () => parseDrivers(text),
      (error: Error) => error instanceof DriverError && pattern.test(error.message),
    );
  fails("system,nvidia", /unknown driver "nvidia"/);
  fails("system,", /empty name/);
  fails("", /empty name/);
});

Deno.test("driverEnv: nothing for system; mesa25 only once set up, else the setup command", () => {
  const prefix = Deno.makeTempDirSync();
  try {
    assert.deepEqual(driverEnv("system", prefix), {});
    assert.throws(
      () => driverEnv("mesa25", prefix),
      (error: Error) =>
        error instanceof DriverError && error.message.includes("bash tools/setup_mesa25.sh"),
    );
    Deno.mkdirSync(`${prefix}/lib`);
    for (const file of [".setup-stamp", "lvp_icd.json", "lib/libvulkan_lvp.so"]) {
      Deno.writeTextFileSync(`${prefix}/${file}`, "x");
    }
    const env = driverEnv("mesa25", prefix);
    assert.equal(env.VK_ICD_FILENAMES, `${prefix}/lvp_icd.json`);
    assert.equal(env.LD_LIBRARY_PATH.split(":")[0], `${prefix}/lib`);
  } finally {
    Deno.removeSync(prefix, { recursive: true });
  }
});

Deno.test("loadedVulkanDrivers reads the mapped driver files and the Mesa version in each", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const encoder = new TextEncoder();
    Deno.writeFileSync(
      `${dir}/libvulkan_lvp.so`,
      encoder.encode("\x7fELF\0Mesa 25.0.7-2~bpo12+1\0"),
    );
    Deno.writeFileSync(`${dir}/libvulkan_radeon.so`, encoder.encode("\0Mesa 22.3.6%s\0"));
    const line = (path: string) => `7f00-7f01 r-xp 00000000 fe:00 123      ${path}`;
    Deno.writeTextFileSync(
      `${dir}/maps`,
      [
        line(`${dir}/libvulkan_lvp.so`),
        line(`${dir}/libvulkan_lvp.so`),
        line("/usr/lib/x86_64-linux-gnu/libvulkan.so.1.3.239"), // the loader, not a driver
        line(`${dir}/libvulkan_radeon.so`),
        "7f02-7f03 rw-p 00000000 00:00 0 ",
      ].join("\n"),
    );
    assert.deepEqual(loadedVulkanDrivers(`${dir}/maps`), [
      { library: `${dir}/libvulkan_lvp.so`, mesa: "25.0.7-2~bpo12+1" },
      { library: `${dir}/libvulkan_radeon.so`, mesa: "22.3.6" },
    ]);
    assert.equal(mesaVersion(`${dir}/maps`), undefined);
    assert.deepEqual(loadedVulkanDrivers(`${dir}/no-such-maps`), []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

async function run(command: string, args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(command, { args, env, cwd: ROOT }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

function assertOneLineFailure(r: { code: number; stderr: string }, pattern: RegExp) {
  assert.equal(r.code, 1, `exit code; stderr: ${r.stderr}`);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], pattern);
}

Deno.test("setup_mesa25.sh: usage, bad arguments and --print-env before setup fail in one line", async () => {
  const cache = Deno.makeTempDirSync();
  try {
    const setup = (...args: string[]) =>
      run("bash", ["tools/setup_mesa25.sh", ...args], { XDG_CACHE_HOME: cache });
    const help = await setup("--help");
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^usage: bash tools\/setup_mesa25.sh/);
    assertOneLineFailure(await setup("--bogus"), /^setup_mesa25: unknown argument "--bogus"/);
    assertOneLineFailure(await setup("--prefix"), /^setup_mesa25: --prefix needs a value/);
    assertOneLineFailure(
      await setup("--print-env"),
      new RegExp(`^setup_mesa25: Mesa 25 is not set up in ${cache}/gemma/mesa25: run bash`),
    );
    // Nothing was downloaded or created by any of these.
    assert.deepEqual([...Deno.readDirSync(cache)], []);
  } finally {
    Deno.removeSync(cache, { recursive: true });
  }
});

Deno.test("setup_mesa25.sh refuses a package whose sha256 is not the pinned one", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    // A mirror on disk whose Mesa package is not the real one.
    const pool = `${dir}/mirror/pool/main/m/mesa`;
    Deno.mkdirSync(pool, { recursive: true });
    Deno.writeTextFileSync(`${pool}/mesa-vulkan-drivers_25.0.7-2~bpo12+1_amd64.deb`, "not a deb");
    const prefix = `${dir}/mesa25`;
    const r = await run("bash", [
      "tools/setup_mesa25.sh",
      "--mirror",
      `file://${dir}/mirror`,
      "--prefix",
      prefix,
    ]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.match(lines[0], /^setup_mesa25: downloading file:/);
    assert.match(lines[1], /does not have the pinned sha256 3899f180/);
    assert.equal(lines.length, 2, r.stderr);
    // Nothing half-made is left: no manifest, no stamp, no work folder.
    assert.deepEqual([...Deno.readDirSync(prefix)], []);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("bench --drivers: an unknown driver or a missing Mesa 25 stops it in one line", async () => {
  const cache = Deno.makeTempDirSync();
  try {
    const bench = (drivers: string) =>
      run(Deno.execPath(), ["run", "-A", "tools/bench.ts", "--drivers", drivers], {
        XDG_CACHE_HOME: cache,
      });
    assertOneLineFailure(await bench("system,vulkan"), /^bench: unknown driver "vulkan"/);
    assertOneLineFailure(
      await bench("system,mesa25"),
      /^bench: Mesa 25 is not set up in .*: run bash tools\/setup_mesa25.sh$/,
    );
  } finally {
    Deno.removeSync(cache, { recursive: true });
  }
});

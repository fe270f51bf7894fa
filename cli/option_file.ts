// `--config FILE` for a subcommand: a YAML or JSON mapping of the subcommand's long flags
// (`lora_rank: 16` or `lora-rank: 16`) filled in where the command line gave none, each value
// checked by the flag's own parser. An unknown key or a bad value is a one-line UsageError.

import type { Command, Option } from "commander";
import { parse as parseYaml } from "yaml";
import { UsageError } from "./common.ts";

/** Flags a config file may not set. */
const NOT_IN_FILES = new Set(["config", "help", "version"]);

/** Reads `path` and sets `command`'s options from it where their value did not come from the CLI. */
export async function applyOptionFile(command: Command, path: string): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound ? "not found" : (error as Error).message;
    throw new UsageError(`--config ${path}: ${reason}`);
  }
  let values: unknown;
  try {
    // YAML 1.2 is a superset of JSON: one parser reads both.
    values = parseYaml(text);
  } catch (error) {
    const first = (error as Error).message.split("\n")[0];
    throw new UsageError(`--config ${path}: not YAML or JSON (${first})`);
  }
  if (values === null || values === undefined) return;
  if (typeof values !== "object" || Array.isArray(values)) {
    throw new UsageError(`--config ${path}: expected a mapping of flag names to values`);
  }
  const byFlag = new Map<string, Option>();
  for (const option of command.options) if (option.long) byFlag.set(option.long, option);
  for (const [key, value] of Object.entries(values)) {
    const flag = `--${key.replaceAll("_", "-")}`;
    const option = byFlag.get(flag);
    if (!option || NOT_IN_FILES.has(key.replaceAll("_", "-"))) {
      throw new UsageError(`--config ${path}: unknown key "${key}"`);
    }
    const name = option.attributeName();
    if (command.getOptionValueSource(name) === "cli") continue;
    command.setOptionValueWithSource(name, optionValue(option, flag, value, path), "config");
  }
}

function optionValue(option: Option, flag: string, value: unknown, path: string): unknown {
  const takesValue = option.required || option.optional;
  if (!takesValue) {
    if (typeof value !== "boolean") {
      throw new UsageError(`--config ${path}: "${flag.slice(2)}" must be true or false`);
    }
    return value;
  }
  // A list (e.g. lora_modules: [q_proj, v_proj]) is the flag's comma-separated form.
  const text = Array.isArray(value) ? value.join(",") : value;
  if (typeof text !== "string" && typeof text !== "number") {
    throw new UsageError(`--config ${path}: "${flag.slice(2)}" must be a string or a number`);
  }
  try {
    return option.parseArg ? option.parseArg(String(text), undefined) : String(text);
  } catch (error) {
    throw new UsageError(`--config ${path}: ${(error as Error).message}`);
  }
}

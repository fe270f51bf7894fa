// Custom multiple-choice tasks from a small JSON or YAML file, with lm-eval's templating rules:
//
//   task: my_task                      # its name in the results
//   data: my_task.jsonl                # the documents (relative to the task file)
//   fewshot_data: my_task_train.jsonl  # optional: the few-shot split
//   description: "…"                   # optional: text before the examples and the prompt
//   doc_to_text: "Question: {{question}}\nAnswer:"
//   doc_to_choice: "{{choices}}"       # or a literal list: ["no", "yes"]
//   doc_to_target: "{{label}}"         # or an integer
//   metric_list: [acc, acc_norm]       # optional; acc_mutual_info on request
//
// As lm-eval: a template that is exactly a field's name is that field's value; otherwise it is a
// Jinja template over the document's fields (rendered by @huggingface/jinja). doc_to_choice's
// template must give a list of strings; doc_to_target an index into it, a string of digits, or
// one of the choices' texts. Every field a template reads must be in every document: a missing one
// is reported with its file, line and name.

import { parse, Template, tokenize } from "@huggingface/jinja";
import { parse as parseYaml } from "yaml";
import { EvalDataError, type SourcedRecord } from "../data.ts";
import type { MetricName } from "../metrics.ts";
import type { MultipleChoiceDoc, MultipleChoiceTask } from "./task.ts";

/** A custom task and the files its documents come from. */
export interface TaskFile {
  task: MultipleChoiceTask;
  data: string;
  fewshotData?: string;
}

const METRICS: readonly MetricName[] = ["acc", "acc_norm", "acc_mutual_info"];

/** Reads and checks a task file (.json, .yaml or .yml). */
export async function readTaskFile(path: string): Promise<TaskFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "file not found" : (error as Error).message;
    throw new EvalDataError(`Cannot read the task file "${path}": ${why}`);
  }
  let spec: unknown;
  try {
    spec = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (error) {
    const why = (error as Error).message.split("\n")[0];
    throw new EvalDataError(`Cannot read the task file "${path}": ${why}`);
  }
  if (!spec || typeof spec !== "object" || Array.isArray(spec)) {
    throw new EvalDataError(`${path}: a task file holds one object (task, data, doc_to_text, …)`);
  }
  const s = spec as Record<string, unknown>;
  const bad = (key: string, expected: string): never => {
    throw new EvalDataError(`${path}: "${key}" must be ${expected}`);
  };
  const str = (key: string, required: boolean) => {
    const value = s[key];
    if (value === undefined && !required) return undefined;
    return typeof value === "string" && value !== "" ? value : bad(key, "a non-empty string");
  };
  const known = [
    "task",
    "data",
    "fewshot_data",
    "description",
    "doc_to_text",
    "doc_to_choice",
    "doc_to_target",
    "metric_list",
    "version",
  ];
  const unknown = Object.keys(s).find((k) => !known.includes(k));
  if (unknown) bad(unknown, `left out (known keys: ${known.join(", ")})`);
  const name = str("task", true)!;
  if (!/^[\w.-]+$/.test(name)) bad("task", "a name of letters, digits, _, . or -");
  const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const resolve = (p: string) => (p.startsWith("/") ? p : folder + p);
  const docToText = field(str("doc_to_text", true)!);
  const choiceSpec = s.doc_to_choice;
  const docToChoice = typeof choiceSpec === "string"
    ? field(choiceSpec)
    : Array.isArray(choiceSpec) && choiceSpec.length > 0 &&
        choiceSpec.every((c) => typeof c === "string")
    ? () => choiceSpec as string[]
    : bad("doc_to_choice", "a template or a non-empty list of strings");
  const targetSpec = s.doc_to_target;
  const docToTarget = typeof targetSpec === "string"
    ? field(targetSpec)
    : Number.isInteger(targetSpec)
    ? () => targetSpec
    : bad("doc_to_target", "a template or an integer");
  const metricList = s.metric_list ?? ["acc", "acc_norm"];
  const metrics = Array.isArray(metricList)
    ? metricList.map((m) => (m && typeof m === "object" ? (m as { metric?: unknown }).metric : m))
    : [];
  if (metrics.length === 0 || !metrics.every((m) => METRICS.includes(m as MetricName))) {
    bad("metric_list", `a list of ${METRICS.join(", ")}`);
  }
  const version = s.version ?? 1.0;
  if (typeof version !== "number") bad("version", "a number");
  const description = str("description", false);
  const fewshotData = str("fewshot_data", false);
  const task: MultipleChoiceTask = {
    name,
    dataset: resolve(str("data", true)!),
    split: "test",
    fewshotSplit: "train",
    metrics: metrics as MetricName[],
    version: version as number,
    ...(description ? { description } : {}),
    doc(source: SourcedRecord): MultipleChoiceDoc {
      const text = docToText(source, "doc_to_text");
      if (typeof text !== "string") fail(source, "doc_to_text", "a string", text);
      const choices = docToChoice(source, "doc_to_choice");
      const ok = Array.isArray(choices) && choices.length > 0 &&
        choices.every((c) => typeof c === "string");
      if (!ok) fail(source, "doc_to_choice", "a non-empty list of strings", choices);
      const list = choices as string[];
      const target = docToTarget(source, "doc_to_target");
      const gold = typeof target === "number"
        ? target
        : typeof target === "string" && /^\d+$/.test(target)
        ? Number(target)
        : typeof target === "string"
        ? list.indexOf(target)
        : fail(source, "doc_to_target", "an index or one of the choices", target);
      if (!Number.isInteger(gold) || gold < 0 || gold >= list.length) {
        fail(source, "doc_to_target", `a choice index below ${list.length}`, target);
      }
      return { text: text as string, choices: list, gold };
    },
  };
  return {
    task,
    data: task.dataset,
    ...(fewshotData ? { fewshotData: resolve(fewshotData) } : {}),
  };
}

function fail(source: SourcedRecord, key: string, expected: string, got: unknown): never {
  throw new EvalDataError(
    `${source.where}: ${key} must give ${expected}; got ${JSON.stringify(got)}`,
  );
}

type FieldReader = (source: SourcedRecord, key: string) => unknown;

/** lm-eval's rule: a field's name is its value; anything else is a Jinja template. */
function field(spec: string): FieldReader {
  if (/^\w+$/.test(spec)) {
    return (source, key) => {
      if (!(spec in source.record)) missing(source, spec, key);
      return source.record[spec];
    };
  }
  // A template that is one expression gives that expression's value (a list stays a list).
  const single = /^\s*\{\{(?:(?!\}\}|\{\{).)*\}\}\s*$/s.test(spec);
  const template = jinja(
    single ? spec.replace(/\}\}\s*$/, ") | tojson }}").replace(/^\s*\{\{/, "{{ (") : spec,
  );
  const needs = rootFields(template.parsed);
  return (source, key) => {
    for (const name of needs) if (!(name in source.record)) missing(source, name, key);
    const text = template.render(source.record);
    return single ? JSON.parse(text) : text;
  };
}

/**
 * A template with Python Jinja's defaults, as lm-eval renders it: blocks keep the whitespace
 * around them (the Template class trims it, as transformers' chat templates want).
 */
function jinja(source: string): Template {
  const template = new Template("");
  template.parsed = parse(tokenize(source, { lstrip_blocks: false, trim_blocks: false }));
  return template;
}

function missing(source: SourcedRecord, name: string, key: string): never {
  throw new EvalDataError(`${source.where}: field "${name}" (read by ${key}) is missing`);
}

const BUILTINS = new Set(["true", "false", "none", "True", "False", "None", "loop", "range"]);

/**
 * The document fields a template needs: identifiers it reads that it does not set, loop over,
 * test with `is defined` or get built in.
 */
function rootFields(program: unknown): string[] {
  const used = new Set<string>();
  const defined = new Set<string>();
  const define = (node: unknown) => {
    const n = node as { type?: string; value?: unknown };
    if (n?.type === "Identifier") defined.add(n.value as string);
    else if (n?.type === "TupleLiteral") (n.value as unknown[]).forEach(define);
  };
  const visit = (node: unknown): void => {
    if (!node || typeof node !== "object") return;
    if (Array.isArray(node)) return node.forEach(visit);
    if (node instanceof Map) return [...node.entries()].forEach(([k, v]) => (visit(k), visit(v)));
    const n = node as Record<string, unknown> & { type?: string };
    switch (n.type) {
      case "Identifier":
        used.add(n.value as string);
        return;
      case "MemberExpression":
        visit(n.object);
        if (n.computed) visit(n.property);
        return;
      case "TestExpression":
        // A field tested with `is defined` is optional wherever the template reads it.
        if (["defined", "undefined"].includes((n.test as { value?: string }).value ?? "")) {
          define(n.operand);
        } else visit(n.operand);
        return;
      case "FilterExpression":
        visit(n.operand);
        if ((n.filter as { type?: string }).type === "CallExpression") {
          visit((n.filter as { args: unknown }).args);
        }
        return;
      case "CallExpression":
        if ((n.callee as { type?: string }).type !== "Identifier") visit(n.callee);
        visit(n.args);
        return;
      case "KeywordArgumentExpression":
        visit(n.value);
        return;
      case "Set":
        define(n.assignee);
        break;
      case "For":
        define(n.loopvar);
        break;
      case "Macro":
        define(n.name);
        (n.args as unknown[]).forEach(define);
        break;
    }
    for (const [k, v] of Object.entries(n)) if (k !== "assignee" && k !== "loopvar") visit(v);
  };
  visit(program);
  return [...used].filter((name) => !defined.has(name) && !BUILTINS.has(name));
}

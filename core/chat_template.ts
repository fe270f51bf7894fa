/**
 * Chat prompts: render a checkpoint's Jinja `chat_template` (from tokenizer_config.json) with
 * `@huggingface/jinja`, the same engine transformers.js uses, so prompts match HF's
 * `apply_chat_template` byte for byte. Gemma's format (DESIGN.md §5):
 *
 *   <bos><start_of_turn>user\n{msg}<end_of_turn>\n<start_of_turn>model\n
 *
 * Gemma 1/2 have no system role (their template raises on one), so a leading system message is
 * folded into the first user turn before rendering, the way Gemma 3's own template does it.
 */
import { Template } from "@huggingface/jinja";

export interface ChatMessage {
  /** "assistant" and "model" are synonyms; Gemma's templates print both as `model`. */
  role: "system" | "user" | "assistant" | "model";
  content: string;
}

export interface RenderChatOptions {
  /** Jinja source, usually `GemmaTokenizer.chatTemplate`; defaults to `GEMMA_CHAT_TEMPLATE`. */
  template?: string;
  /** Passed to the template as `bos_token` / `eos_token` (`GemmaTokenizer.bosToken`, …). */
  bosToken: string;
  eosToken: string;
  /** End with `<start_of_turn>model\n`, the cue for the model to answer (default false, as HF). */
  addGenerationPrompt?: boolean;
}

/** The template raised (e.g. roles that do not alternate), or its source does not parse. */
export class ChatTemplateError extends Error {
  override name = "ChatTemplateError";
}

/**
 * Built-in Gemma chat template, used when a checkpoint ships none. Same output as Google's
 * template in Gemma's tokenizer_config.json (including trimming each message), and the same
 * checks: no system role (fold it first), turns alternate user/model starting with user.
 */
export const GEMMA_CHAT_TEMPLATE = [
  "{{ bos_token }}",
  "{% for message in messages %}",
  "{% set role = 'model' if message['role'] in ['assistant', 'model'] else message['role'] %}",
  "{% if role == 'system' %}",
  "{{ raise_exception('Gemma has no system role; fold it into the first user message') }}",
  "{% endif %}",
  "{% if (role == 'user') != (loop.index0 is even) %}",
  "{{ raise_exception('Turns must alternate user/model starting with user; message ' ~ ",
  "loop.index0 ~ ' has role ' ~ message['role']) }}",
  "{% endif %}",
  "{{ '<start_of_turn>' ~ role ~ '\\n' ~ (message['content'] | trim) ~ '<end_of_turn>\\n' }}",
  "{% endfor %}",
  "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}",
].join("");

/**
 * Folds a leading system message into the first user turn (`system + "\n\n" + user`), since
 * Gemma 1/2 have no system role. Without a following user turn the system text becomes the user
 * turn by itself. Later system messages are left alone (the template rejects them).
 */
export function foldSystemMessage(messages: ChatMessage[]): ChatMessage[] {
  if (messages.length === 0 || messages[0].role !== "system") return messages;
  const [system, next, ...rest] = messages;
  if (next?.role === "user") {
    return [{ role: "user", content: `${system.content}\n\n${next.content}` }, ...rest];
  }
  return [{ role: "user", content: system.content }, ...messages.slice(1)];
}

/** Parsed templates, keyed by source: parsing costs more than rendering and sources repeat. */
const parsed = new Map<string, Template>();

/**
 * Renders a conversation into the prompt text. The result already begins with `<bos>` (the
 * template emits `bos_token`), so encode it with `tokenizer.encode(text, { addBos: false })`
 * (`GemmaTokenizer.encode` also refuses to double a leading `<bos>`, but say what you mean).
 *
 * @throws ChatTemplateError with the template's own message, e.g. for two user turns in a row:
 *   `Chat template rejected the conversation: Conversation roles must alternate user/assistant/…`
 */
export function renderChat(messages: ChatMessage[], options: RenderChatOptions): string {
  const source = options.template ?? GEMMA_CHAT_TEMPLATE;
  let template = parsed.get(source);
  if (!template) {
    try {
      template = new Template(source);
    } catch (err) {
      throw new ChatTemplateError(`Cannot parse the chat template: ${(err as Error).message}`);
    }
    parsed.set(source, template);
  }
  try {
    return template.render({
      // Plain objects: the engine converts them to its own values and reads ['role'], ['content'].
      messages: foldSystemMessage(messages).map((m) => ({ role: m.role, content: m.content })),
      bos_token: options.bosToken,
      eos_token: options.eosToken,
      add_generation_prompt: options.addGenerationPrompt ?? false,
    });
  } catch (err) {
    // `raise_exception(msg)` throws a plain Error(msg); other runtime errors come the same way,
    // so one wording covers both.
    throw new ChatTemplateError(
      `Chat template rejected the conversation: ${(err as Error).message}`,
    );
  }
}

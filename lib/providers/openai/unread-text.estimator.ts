import { estimateTokens } from '../../counting/index.js';
import { record } from '../../metering/json.guards.js';

/**
 * Collects request values the counting formulas skip because they are not text where the API
 * expects text (`content: 42`, `content: { text: '…' }`, a part whose `text` is an object,
 * tool-call `arguments` given as an object, a message that is a bare string) and estimates
 * their tokens from their JSON.
 *
 * The formulas count such values as 0 tokens. OpenAI refuses these requests with a 400 (nothing
 * billed, the reservation is released), but a lenient OpenAI-compatible server may serialise and
 * bill them, so the reservation must not assume they are free: under `hard-stop` the output cap
 * is derived from the prompt count. The walk allocates nothing for well-formed requests.
 */
export class UnreadText {
  private readonly values: unknown[] = [];

  /** Any value that should have been a message object or text, but is not one. */
  value(value: unknown): void {
    if (value !== undefined && value !== null) this.values.push(value);
  }

  /** A field the API defines as text: anything but a string (or nothing) is unread. */
  text(value: unknown): void {
    if (typeof value !== 'string') this.value(value);
  }

  /** A `content` field: a string, or an array of strings and parts (text, refusal, media). */
  content(value: unknown): void {
    if (!Array.isArray(value)) return this.text(value);
    for (const part of value) {
      const p = record(part);
      if (!p) this.text(part);
      else {
        this.text(p.text);
        this.text(p.refusal);
      }
    }
  }

  /**
   * Estimated tokens of everything collected; 0 when nothing was, or when it cannot be
   * serialised (a BigInt, a cycle): the SDK then fails to send the request at all, and the
   * reservation is released.
   */
  tokens(): number {
    if (this.values.length === 0) return 0;
    try {
      return estimateTokens(JSON.stringify(this.values) ?? '');
    } catch {
      return 0;
    }
  }
}

/** Unread values of Chat Completions `messages` (see {@link UnreadText}). */
export function unreadChatTokens(messages: unknown): number {
  const unread = new UnreadText();
  if (!Array.isArray(messages)) {
    unread.value(messages);
    return unread.tokens();
  }
  for (const item of messages) {
    const message = record(item);
    if (!message) {
      unread.value(item);
      continue;
    }
    unread.text(message.role);
    unread.content(message.content);
    unread.text(message.name);
    unread.text(message.refusal);
    unread.text(message.tool_call_id);
    const legacy = record(message.function_call);
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
    for (const call of legacy ? [...calls, { function: legacy }] : calls) {
      const fn = record(record(call)?.function);
      unread.text(fn?.name);
      unread.text(fn?.arguments);
    }
  }
  return unread.tokens();
}

/** Unread values of a Responses `input` and `instructions` (see {@link UnreadText}). */
export function unreadResponsesTokens(input: unknown, instructions: unknown): number {
  const unread = new UnreadText();
  unread.text(instructions);
  if (!Array.isArray(input)) {
    unread.text(input);
    return unread.tokens();
  }
  for (const entry of input) {
    const item = record(entry);
    if (!item) {
      unread.value(entry);
      continue;
    }
    switch (item.type ?? 'message') {
      case 'message':
        unread.text(item.role);
        unread.content(item.content);
        break;
      case 'function_call':
      case 'custom_tool_call':
        unread.text(item.name);
        unread.text(item.arguments);
        unread.text(item.input);
        break;
      case 'function_call_output':
      case 'custom_tool_call_output':
        unread.content(item.output);
        break;
      default:
      // Other items are counted by every string they hold; nothing has a text slot to miss.
    }
  }
  return unread.tokens();
}

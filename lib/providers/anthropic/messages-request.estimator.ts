import { record } from '../../metering/json.guards.js';
import type { InputCount, RequestBody } from '../../metering/provider-endpoint.interface.js';
import { estimateClaudeTokens } from './claude-text.estimator.js';
import { pdfPageCount } from './pdf-pages.counter.js';
import {
  type ClaudeTokenizerGeneration,
  tokenizerGeneration,
} from './claude-tokenizer.generation.js';

/**
 * Framing Claude adds around a prompt's parts. The template is not public; these are chosen at
 * or above what Anthropic's published counts imply (a one-line user message with a system prompt
 * counts 14 tokens on Claude Opus 4), so they err high.
 */
export const CLAUDE_FRAMING = {
  /** The reply primer and start of every prompt. */
  prompt: 4,
  /** Role markers around each message. */
  message: 5,
  /** Each content block after a message's first. */
  block: 1,
  /** The `system` parameter's framing. */
  system: 4,
  /**
   * Extended or adaptive thinking: Anthropic's published count of a three-turn conversation with
   * thinking enabled (88 tokens on Claude Opus 4) implies about 20 tokens more framing than one
   * without.
   */
  thinking: 30,
  /**
   * The tool-use system prompt added once when tools are offered: the largest Anthropic publishes
   * for current models (346 tokens, Claude 4.x and 3.7 Sonnet with `tool_choice` auto or none).
   */
  toolPrompt: 346,
  /** Each custom tool's framing, on top of its name, description and schema. */
  tool: 10,
  /**
   * Each Anthropic-defined tool (`bash_…`, `text_editor_…`, `computer_…`, server tools): the
   * largest published hidden prompt (computer use: 735 tokens plus a 499-token system prompt).
   */
  anthropicTool: 1300,
  /** A `tool_use` block's framing, on top of its name and JSON input. */
  toolUse: 10,
  /** A `tool_result` block's framing, on top of its content. */
  toolResult: 6,
  /** A structured-output `output_config.format`'s framing, on top of its JSON. */
  outputFormat: 20,
  /** Text extracted from each PDF page, on top of the page image (Anthropic: 1,500–3,000 a page). */
  pdfPageText: 3000,
} as const;

/**
 * Image tokens: the most one image costs. Classic models fit an image into 1.15 megapixels
 * (w·h/750 tokens, at most about 1,600); newer models read up to 3.75 megapixels (about 5,000).
 */
const IMAGE_TOKENS: Readonly<Record<ClaudeTokenizerGeneration, number>> = {
  classic: 1600,
  dense: 5000,
};

/**
 * An upper estimate of the input tokens of a Messages request for `model`, with the part a
 * `cache_control` breakpoint may write to the prompt cache (so dollars are reserved at the
 * cache-write rates: everything up to the last 1-hour breakpoint at the 1-hour rate, the rest up
 * to the last breakpoint at the 5-minute rate). Never throws.
 */
export function estimateMessagesInput(body: RequestBody, model: string): InputCount {
  const walk = new PromptWalk(tokenizerGeneration(model));
  walk.tools(body.tools);
  walk.system(body.system);
  walk.messages(body.messages);
  const automatic = record(body.cache_control);
  if (automatic) walk.breakpoint(automatic);
  walk.add(CLAUDE_FRAMING.prompt);
  const thinking = record(body.thinking)?.type;
  if (thinking === 'enabled' || thinking === 'adaptive') walk.add(CLAUDE_FRAMING.thinking);
  // The beta's deprecated `output_format` is sent as `output_config.format` by the SDK.
  const format = record(body.output_config)?.format ?? body.output_format;
  if (format !== undefined && format !== null) {
    walk.add(CLAUDE_FRAMING.outputFormat + walk.json(format));
  }
  return walk.count();
}

/** Walks a prompt in Anthropic's cache order (tools, system, messages), totalling as it goes. */
class PromptWalk {
  private total = 0;
  private lastHour = 0;
  private lastAny = 0;

  constructor(private readonly generation: ClaudeTokenizerGeneration) {}

  add(tokens: number): void {
    this.total += tokens;
  }

  /** A `cache_control` at the current position: the prefix so far may be written to the cache. */
  breakpoint(control: Record<string, unknown> | undefined): void {
    if (!control) return;
    if (control.ttl === '1h') this.lastHour = this.total;
    this.lastAny = this.total;
  }

  count(): InputCount {
    const count: InputCount = { inputTokens: this.total };
    if (this.lastHour > 0) count.cacheWrite1hTokens = this.lastHour;
    if (this.lastAny > this.lastHour) count.cacheWrite5mTokens = this.lastAny - this.lastHour;
    return count;
  }

  text(value: unknown): number {
    return typeof value === 'string'
      ? estimateClaudeTokens(value, this.generation)
      : this.json(value);
  }

  /** Any value as its JSON text (what a lenient server would bill); 0 when it cannot be serialised. */
  json(value: unknown): number {
    if (value === undefined || value === null) return 0;
    try {
      return estimateClaudeTokens(JSON.stringify(value) ?? '', this.generation);
    } catch {
      return 0; // A BigInt or a cycle: the SDK cannot send the request at all.
    }
  }

  tools(tools: unknown): void {
    if (!Array.isArray(tools) || tools.length === 0) {
      if (tools !== undefined && tools !== null) this.add(this.json(tools));
      return;
    }
    this.add(CLAUDE_FRAMING.toolPrompt);
    for (const item of tools) {
      const tool = record(item);
      if (!tool) {
        this.add(this.json(item));
        continue;
      }
      const custom = tool.type === undefined || tool.type === null || tool.type === 'custom';
      if (custom) {
        this.add(CLAUDE_FRAMING.tool + this.text(tool.name) + this.text(tool.description));
        this.add(this.json(tool.input_schema));
        // Anything else a tool carries (input_examples, …) counts as its JSON.
        const { name, description, input_schema, cache_control, type, ...rest } = tool;
        void [name, description, input_schema, type];
        if (Object.keys(rest).length > 0) this.add(this.json(rest));
        this.breakpoint(record(cache_control));
      } else {
        this.add(CLAUDE_FRAMING.anthropicTool + this.json(tool));
        this.breakpoint(record(tool.cache_control));
      }
    }
  }

  system(system: unknown): void {
    if (system === undefined || system === null) return;
    this.add(CLAUDE_FRAMING.system);
    if (!Array.isArray(system)) return this.add(this.text(system));
    for (const item of system) {
      const block = record(item);
      this.add(block ? this.text(block.text) : this.json(item));
      this.breakpoint(record(block?.cache_control));
    }
  }

  messages(messages: unknown): void {
    if (!Array.isArray(messages)) return this.add(this.json(messages));
    for (const item of messages) {
      const message = record(item);
      this.add(CLAUDE_FRAMING.message);
      if (!message) {
        this.add(this.json(item));
        continue;
      }
      const content = message.content;
      if (!Array.isArray(content)) {
        this.add(this.text(content));
        continue;
      }
      content.forEach((part, i) => {
        if (i > 0) this.add(CLAUDE_FRAMING.block);
        const controls: Record<string, unknown>[] = [];
        this.contentBlock(part, controls);
        // A breakpoint nested in a block (tool_result content, a `content` document's source,
        // search_result content) caches the prefix up to it: counted as up to the end of the
        // block that holds it, which errs high.
        for (const control of controls) this.breakpoint(control);
      });
    }
  }

  /** Adds one content block, collecting its `cache_control` and those of the blocks nested in it. */
  private contentBlock(part: unknown, controls: Record<string, unknown>[]): void {
    const block = record(part);
    const nested = (content: unknown) => {
      if (!Array.isArray(content)) return this.add(this.text(content ?? ''));
      for (const inner of content) this.contentBlock(inner, controls);
    };
    switch (block?.type) {
      case 'tool_result':
        this.add(CLAUDE_FRAMING.toolResult);
        nested(block.content);
        break;
      case 'document': {
        const source = record(block.source);
        if (source?.type === 'content' && Array.isArray(source.content)) {
          this.add(this.text(block.title ?? '') + this.text(block.context ?? ''));
          nested(source.content);
        } else {
          this.add(this.document(block));
        }
        break;
      }
      case 'search_result': {
        const { content, cache_control, ...rest } = block;
        void cache_control;
        this.add(this.json(rest));
        nested(content);
        break;
      }
      default:
        this.add(this.block(part));
    }
    const control = record(block?.cache_control);
    if (control) controls.push(control);
  }

  /** Tokens of one content block. */
  private block(part: unknown): number {
    const block = record(part);
    if (!block) return this.text(part);
    switch (block.type) {
      case 'text':
        return this.text(block.text) + this.extra(block, ['type', 'text', 'cache_control']);
      case 'image':
        return IMAGE_TOKENS[this.generation];
      case 'document':
        return this.document(block);
      case 'tool_use':
      case 'server_tool_use':
        return CLAUDE_FRAMING.toolUse + this.text(block.name) + this.json(block.input);
      case 'tool_result': {
        const content = block.content;
        const inner = Array.isArray(content)
          ? content.reduce<number>((sum, b) => sum + this.block(b), 0)
          : this.text(content ?? '');
        return CLAUDE_FRAMING.toolResult + inner;
      }
      case 'thinking':
        // Anthropic drops thinking of earlier turns from the input; counting it errs high.
        return this.text(block.thinking);
      case 'redacted_thinking':
        return typeof block.data === 'string' ? Math.ceil(block.data.length / 3) : 0;
      default:
        return this.json(block);
    }
  }

  private document(block: Record<string, unknown>): number {
    const source = record(block.source);
    let tokens = this.text(block.title ?? '') + this.text(block.context ?? '');
    const page = IMAGE_TOKENS[this.generation] + CLAUDE_FRAMING.pdfPageText;
    switch (source?.type) {
      case 'text':
        return tokens + this.text(source.data);
      case 'content': {
        const content = source.content;
        return (
          tokens +
          (Array.isArray(content)
            ? content.reduce<number>((sum, b) => sum + this.block(b), 0)
            : this.text(content))
        );
      }
      case 'base64':
        return tokens + pdfPageCount(source.data) * page;
      default:
        // A URL or a file id: its pages are not known here (see docs/anthropic.md).
        tokens += page;
        return tokens;
    }
  }

  /** Fields of a block beyond the ones counted (citations, …), as JSON. */
  private extra(block: Record<string, unknown>, counted: readonly string[]): number {
    const rest: Record<string, unknown> = {};
    let any = false;
    for (const [key, value] of Object.entries(block)) {
      if (counted.includes(key) || value === undefined || value === null) continue;
      rest[key] = value;
      any = true;
    }
    return any ? this.json(rest) : 0;
  }
}

import { invalidRequest } from './anthropic-error.factory.js';
import type { ClaudeModelFacts } from './claude-model.catalog.js';
import { countClaudeTokens, type ClaudeTokenizer } from './claude-token.counter.js';
import type { CacheControl, JsonObject } from './content-block.validator.js';
import { readImageSize } from './image-size.reader.js';
import type { MessageRequest } from './message-request.validator.js';
import { readPdfPages } from './pdf-page.reader.js';

/**
 * The fake's input-token rules. Claude's prompt template is not public, so these framing costs are
 * stated guesses of the right order (a one-line user message counts about 10 tokens, close to what
 * the real `count_tokens` returns), applied the same way by `/v1/messages` and `count_tokens`.
 */
export const INPUT_RULES = {
  /** Opens the assistant turn at the end of every prompt; never cacheable. */
  replyPrimer: 3,
  /** Role markers around each message. */
  perMessage: 4,
  /** Framing of the `system` parameter when present. */
  system: 3,
  /** The tool-use system prompt added when tools are offered, per Anthropic's tool-use pricing
   * table for Claude 4 models: 346 tokens with `tool_choice` auto or none, 313 with any or tool. */
  toolPromptAuto: 346,
  toolPromptForced: 313,
  /** Framing of each custom tool definition, on top of its name, description and schema. */
  perTool: 5,
  /** Framing of a `tool_use` block (input or output), on top of its name and JSON input. */
  toolUse: 6,
  /** Framing of a `tool_result` block, on top of its content. */
  toolResult: 4,
  /** Framing of a `thinking` block passed back, on top of its text (the signature is free). */
  thinking: 2,
  /** Framing of a document, on top of its content, title and context. */
  document: 10,
  /** Tokens per PDF page (Anthropic quotes 1,500 to 3,000 a page: text plus the page image). */
  pdfPage: 2000,
  /** An image whose size cannot be read (URL, file id, unknown format): the resized maximum. */
  unknownImage: 1600,
  /** Framing of a structured-output `output_config.format`, on top of its JSON (never cached). */
  outputFormat: 8,
} as const;

/** Vision rules: images are shrunk to fit 1,568 px and 1.15 megapixels, then cost w·h/750. */
const IMAGE_MAX_EDGE = 1568;
const IMAGE_MAX_PIXELS = 1_150_000;
const PIXELS_PER_TOKEN = 750;
/** The API refuses more breakpoints than this. */
const MAX_BREAKPOINTS = 4;

/** One cacheable unit of the prompt, in prompt order (tools, then system, then messages). */
export interface PromptSegment {
  /** Identifies the segment's content and position class; the cache chains these into prefixes. */
  fingerprint: string;
  tokens: number;
  /** Set when the segment carries a `cache_control` breakpoint. */
  breakpoint: CacheControl['ttl'] | undefined;
}

/** A request's input, counted and cut into cacheable segments. */
export interface PromptLayout {
  segments: PromptSegment[];
  /** Every input token: the segments plus the reply primer. */
  totalTokens: number;
}

/**
 * Counts a validated request's input and lays it out for the prompt cache.
 * @throws AnthropicHttpError 400 for more than 4 breakpoints, or a 1-hour breakpoint after a
 * 5-minute one (the API requires longer TTLs first).
 */
export function layoutPrompt(request: MessageRequest, model: ClaudeModelFacts): PromptLayout {
  const count = (text: string) => countClaudeTokens(text, model.tokenizer);
  const segments: PromptSegment[] = [];
  const toolPrompt =
    request.tools.length === 0
      ? 0
      : request.toolChoice.type === 'any' || request.toolChoice.type === 'tool'
        ? INPUT_RULES.toolPromptForced
        : INPUT_RULES.toolPromptAuto;
  request.tools.forEach((tool, i) => {
    const raw = tool.raw;
    const own = tool.custom
      ? INPUT_RULES.perTool +
        count(tool.name) +
        count(typeof raw.description === 'string' ? raw.description : '') +
        count(JSON.stringify(raw.input_schema))
      : count(canonical(raw));
    segments.push(segment('tool', raw, own + (i === 0 ? toolPrompt : 0), raw.cache_control));
  });
  request.system.forEach((block, i) => {
    const tokens = count(block.text as string) + (i === 0 ? INPUT_RULES.system : 0);
    segments.push(segment('system', block, tokens, block.cache_control));
  });
  // Changing tool_choice or thinking invalidates the cached messages but not tools and system.
  const context = JSON.stringify([request.toolChoice, request.thinking]);
  request.messages.forEach((message) => {
    if (message.blocks.length === 0) {
      segments.push(
        segment(`${message.role}|empty|${context}`, {}, INPUT_RULES.perMessage, undefined),
      );
    }
    message.blocks.forEach((block, j) => {
      const tokens = blockTokens(block, count) + (j === 0 ? INPUT_RULES.perMessage : 0);
      const zone = `${message.role}|${j === 0 ? 'first' : 'next'}|${context}`;
      segments.push(segment(zone, block, tokens, breakpointOf(block)));
    });
  });
  applyAutomaticBreakpoint(segments, request);
  checkBreakpoints(segments);
  const format = request.outputFormat
    ? INPUT_RULES.outputFormat + count(JSON.stringify(request.outputFormat))
    : 0;
  const total = segments.reduce((sum, s) => sum + s.tokens, 0) + INPUT_RULES.replyPrimer + format;
  return { segments, totalTokens: total };
}

/** Tokens of one content block under the fake's rules (also used for `tool_use` output). */
export function blockTokens(block: JsonObject, count: (text: string) => number): number {
  switch (block.type) {
    case 'text':
      return count(block.text as string);
    case 'image':
      return imageTokens(block.source as JsonObject);
    case 'document':
      return documentTokens(block, count);
    case 'tool_use':
      return toolUseTokens(block.name as string, block.input, count);
    case 'tool_result': {
      const content = block.content;
      const inner =
        content === undefined
          ? 0
          : typeof content === 'string'
            ? count(content)
            : (content as JsonObject[]).reduce((sum, b) => sum + blockTokens(b, count), 0);
      return INPUT_RULES.toolResult + inner + (block.is_error === true ? 1 : 0);
    }
    case 'thinking':
      return INPUT_RULES.thinking + count(block.thinking as string);
    case 'redacted_thinking':
      return Math.ceil((block.data as string).length / 4);
    default:
      return count(canonical(block));
  }
}

/** Tokens of a tool call: its framing, its name and its JSON input. */
export function toolUseTokens(name: string, input: unknown, count: (text: string) => number) {
  return INPUT_RULES.toolUse + count(name) + count(JSON.stringify(input));
}

/** Counts text with the tokenizer of a model; a helper for callers holding only facts. */
export function counterFor(tokenizer: ClaudeTokenizer): (text: string) => number {
  return (text) => countClaudeTokens(text, tokenizer);
}

function imageTokens(source: JsonObject): number {
  const size = source.type === 'base64' ? readImageSize(source.data as string) : undefined;
  if (!size) return INPUT_RULES.unknownImage;
  const scale = Math.min(
    1,
    IMAGE_MAX_EDGE / Math.max(size.width, size.height),
    Math.sqrt(IMAGE_MAX_PIXELS / (size.width * size.height)),
  );
  const width = Math.max(1, Math.floor(size.width * scale));
  const height = Math.max(1, Math.floor(size.height * scale));
  return Math.ceil((width * height) / PIXELS_PER_TOKEN);
}

function documentTokens(block: JsonObject, count: (text: string) => number): number {
  const source = block.source as JsonObject;
  let tokens = INPUT_RULES.document;
  if (typeof block.title === 'string') tokens += count(block.title);
  if (typeof block.context === 'string') tokens += count(block.context);
  switch (source.type) {
    case 'text':
      return tokens + count(source.data as string);
    case 'content':
      return (
        tokens +
        (typeof source.content === 'string'
          ? count(source.content)
          : (source.content as JsonObject[]).reduce((sum, b) => sum + blockTokens(b, count), 0))
      );
    case 'base64':
      return tokens + readPdfPages(source.data as string) * INPUT_RULES.pdfPage;
    default:
      return tokens + INPUT_RULES.pdfPage;
  }
}

function segment(
  zone: string,
  content: JsonObject,
  tokens: number,
  cacheControl: unknown,
): PromptSegment {
  return {
    fingerprint: `${zone}|${canonical(content)}`,
    tokens,
    breakpoint: ttlOf(cacheControl),
  };
}

/**
 * A block's own breakpoint, or one set on a block nested in it (tool result content, search result
 * content, a `content` document's source, at any depth); a 1-hour one wins.
 */
function breakpointOf(block: JsonObject): unknown {
  const found: unknown[] = [];
  const visit = (b: JsonObject) => {
    if (b.cache_control) found.push(b.cache_control);
    const source = b.source as JsonObject | undefined;
    for (const content of [b.content, source?.content]) {
      if (Array.isArray(content)) (content as JsonObject[]).forEach(visit);
    }
  };
  visit(block);
  return found.find((c) => ttlOf(c) === '1h') ?? found[0];
}

function ttlOf(cacheControl: unknown): CacheControl['ttl'] | undefined {
  if (!cacheControl || typeof cacheControl !== 'object') return undefined;
  return (cacheControl as { ttl?: unknown }).ttl === '1h' ? '1h' : '5m';
}

/** Top-level `cache_control` puts a breakpoint on the last cacheable block, unless it has one. */
function applyAutomaticBreakpoint(segments: PromptSegment[], request: MessageRequest): void {
  if (!request.autoCache) return;
  const lastBlock = request.messages.at(-1)?.blocks.at(-1);
  if (lastBlock?.type === 'thinking' || lastBlock?.type === 'redacted_thinking') return;
  const last = segments.at(-1);
  if (last && last.breakpoint === undefined) last.breakpoint = request.autoCache.ttl;
}

function checkBreakpoints(segments: readonly PromptSegment[]): void {
  const breakpoints = segments.filter((s) => s.breakpoint !== undefined);
  if (breakpoints.length > MAX_BREAKPOINTS) {
    throw invalidRequest(
      `A maximum of ${MAX_BREAKPOINTS} blocks with cache_control may be provided. Found ${breakpoints.length}.`,
    );
  }
  let seenShort = false;
  for (const b of breakpoints) {
    if (b.breakpoint === '5m') seenShort = true;
    else if (seenShort) {
      throw invalidRequest(
        "cache_control: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block (longer TTLs must come first).",
      );
    }
  }
}

/** JSON without any `cache_control`: moving a breakpoint does not change what is cached. */
function canonical(block: JsonObject): string {
  return JSON.stringify(block, (key, value: unknown) =>
    key === 'cache_control' ? undefined : value,
  );
}

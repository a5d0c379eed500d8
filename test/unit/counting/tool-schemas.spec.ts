import { describe, expect, it } from 'vitest';
import {
  countChatTokens,
  countResponsesInput,
  countTokens,
  type ChatTool,
  type ResponsesTool,
} from '../../../lib/counting/index.js';
import { EXACT_SCHEMA_CHARS, utf8Length } from '../../../lib/counting/schema-text.budget.js';
import {
  chatTool,
  nestedObjectSchema,
  prose,
  PYDANTIC_SCHEMA,
  ZOD_SCHEMA,
} from './schema-corpus.fixture.js';
import { leafTokens, renderFunctions } from './schema-reference.fixture.js';

const MODEL = 'gpt-4o';
const t = (text: string): number => countTokens(text, MODEL);
const toolTokens = (tools: unknown[], model = MODEL): number =>
  countChatTokens({ model, messages: [], tools: tools as ChatTool[] }) -
  countChatTokens({ model, messages: [] });
const responsesToolTokens = (tools: unknown[], model = MODEL): number =>
  countResponsesInput({ model, input: [], tools: tools as ResponsesTool[] }) -
  countResponsesInput({ model, input: [] });

// A sentence of known length, put in one place of a schema at a time.
const MARKER = prose(3, 6);

describe('tool schemas in the shapes zod and pydantic emit', () => {
  const fns = [
    { name: 'create_order', description: prose(60, 2), parameters: PYDANTIC_SCHEMA },
    { name: 'schedule_event', description: prose(61, 2), parameters: ZOD_SCHEMA },
  ];
  const tools = fns.map((fn) => chatTool(fn.name, fn.description, fn.parameters));

  it('count at least what an independent rendering and the strings they carry say', () => {
    const descriptions = leafTokens(
      JSON.parse(JSON.stringify(tools), (k, v: unknown) =>
        k === '' || typeof v !== 'string' || k === 'description' ? v : undefined,
      ),
      t,
    );
    // About 1,560 tokens of descriptions, most under $defs, definitions, anyOf and allOf. The
    // rendering says 2,252 tokens; top-level properties only, 8 levels at most, counted 483.
    expect(descriptions).toBeGreaterThan(1500);
    const rendered = t(renderFunctions(fns));
    const counted = toolTokens(tools);
    expect(counted).toBeGreaterThanOrEqual(rendered);
    expect(counted).toBeGreaterThanOrEqual(leafTokens(tools, t));
    // Erring high, but by a margin, not by a multiple.
    expect(counted).toBeLessThanOrEqual(Math.ceil(rendered * 1.3));
  });

  it('count the same text in the flat Responses tool shape', () => {
    const flat = fns.map((fn) => ({ type: 'function', ...fn, strict: false }));
    expect(responsesToolTokens(flat)).toBe(toolTokens(tools));
  });

  it.each(['gpt-4', 'claude-sonnet-4'])('count at least the strings they carry on %s', (model) => {
    const count = (text: string) => countTokens(text, model);
    expect(toolTokens(tools, model)).toBeGreaterThanOrEqual(leafTokens(tools, count));
  });
});

describe('a 12-level object', () => {
  const fn = { name: 'configure', description: prose(70, 1), parameters: nestedObjectSchema(12) };
  const tool = chatTool(fn.name, fn.description, fn.parameters);

  it('is counted at least as an independent rendering says (the 8-level cap counted 806 of 1,082)', () => {
    const rendered = t(renderFunctions([fn]));
    expect(rendered).toBe(1082);
    expect(toolTokens([tool])).toBeGreaterThanOrEqual(rendered);
    expect(toolTokens([tool])).toBeGreaterThanOrEqual(leafTokens(tool, t));
  });

  it('counts text added at its deepest level in full', () => {
    const deepest = (schema: Record<string, unknown>): Record<string, unknown> => {
      let node = schema;
      for (;;) {
        const child = (node.properties as Record<string, Record<string, unknown>>).child;
        if (child === undefined) return node;
        node = child;
      }
    };
    const marked = structuredClone(fn.parameters);
    (deepest(marked).properties as Record<string, unknown>).note = {
      type: 'string',
      description: MARKER,
    };
    const added = toolTokens([chatTool('configure', fn.description, marked)]) - toolTokens([tool]);
    expect(added).toBeGreaterThanOrEqual(t(MARKER) + t('note') + t('string'));
  });
});

describe('every keyword of a schema carries its text', () => {
  // Each entry puts MARKER at one place of `parameters`; the count must grow by its tokens.
  const places: Record<string, (m: string) => Record<string, unknown>> = {
    '$defs description': (m) => ({ $defs: { A: { type: 'string', description: m } } }),
    'definitions description': (m) => ({ definitions: { A: { type: 'string', description: m } } }),
    'anyOf variant': (m) =>
      objectWith({ anyOf: [{ type: 'string' }, { type: 'integer', description: m }] }),
    'oneOf variant property': (m) =>
      objectWith({
        oneOf: [{ type: 'object', properties: { b: { type: 'string', description: m } } }],
      }),
    'allOf member': (m) => objectWith({ allOf: [{ type: 'string', description: m }] }),
    'array items': (m) => objectWith({ type: 'array', items: { type: 'string', description: m } }),
    'nested property': (m) =>
      objectWith({ type: 'object', properties: { b: { type: 'string', description: m } } }),
    'default value': (m) => objectWith({ type: 'string', default: m }),
    examples: (m) => objectWith({ type: 'string', examples: [m] }),
    title: (m) => objectWith({ type: 'string', title: m }),
    'top-level enum value': (m) => objectWith({ type: 'string', enum: ['x', m] }),
    'nested enum value': (m) =>
      objectWith({ type: 'object', properties: { b: { type: 'string', enum: [m] } } }),
    const: (m) => objectWith({ const: m }),
    pattern: (m) => objectWith({ type: 'string', pattern: m }),
    'additionalProperties schema': (m) => ({
      type: 'object',
      properties: {},
      additionalProperties: { type: 'string', description: m },
    }),
    patternProperties: (m) => ({
      type: 'object',
      patternProperties: { '^x': { type: 'string', description: m } },
    }),
    not: (m) => objectWith({ not: { type: 'string', description: m } }),
    'if / then / else': (m) => objectWith({ if: { type: 'string' }, then: { description: m } }),
    'parameters description': (m) => ({ type: 'object', properties: {}, description: m }),
    'parameters title': (m) => ({ type: 'object', properties: {}, title: m }),
    'property key': (m) => ({ type: 'object', properties: { [m]: { type: 'string' } } }),
    'required entry naming no property': (m) => ({ type: 'object', properties: {}, required: [m] }),
    'parameters without properties': (m) => ({ type: 'object', description: m }),
    'property that is a boolean schema, by key': (m) => ({
      type: 'object',
      properties: { [m]: true },
    }),
  };

  it.each(Object.keys(places))('%s (Chat and Responses tools)', (place) => {
    const build = places[place];
    const chat = (m: string) => [chatTool('f', 'Does f.', build(m))];
    const flat = (m: string) => [
      { type: 'function', name: 'f', description: 'Does f.', parameters: build(m) },
    ];
    expect(toolTokens(chat(MARKER)) - toolTokens(chat(''))).toBeGreaterThanOrEqual(t(MARKER));
    expect(
      responsesToolTokens(flat(MARKER)) - responsesToolTokens(flat('')),
    ).toBeGreaterThanOrEqual(t(MARKER));
  });

  it('tool name and description, and any other member of the tool', () => {
    const base = chatTool('f', 'Does f.', { type: 'object', properties: {} });
    expect(
      toolTokens([chatTool('f', MARKER, base.function.parameters)]) - toolTokens([base]),
    ).toBeGreaterThanOrEqual(t(MARKER) - t('Does f.'));
    const extra = { ...base, function: { ...base.function, examples: [MARKER] } };
    expect(toolTokens([extra]) - toolTokens([base])).toBeGreaterThanOrEqual(t(MARKER));
  });

  it('custom tools and built-in Responses tools', () => {
    const custom = (m: string) => [
      {
        type: 'custom',
        custom: {
          name: 'sql',
          description: 'Runs SQL.',
          format: { type: 'grammar', grammar: { syntax: 'lark', definition: m } },
        },
      },
    ];
    expect(toolTokens(custom(MARKER)) - toolTokens(custom(''))).toBeGreaterThanOrEqual(t(MARKER));
    const mcp = (m: string) => [
      {
        type: 'mcp',
        server_label: 'docs',
        server_description: m,
        allowed_tools: { tool_names: ['search'] },
      },
    ];
    expect(responsesToolTokens(mcp(MARKER)) - responsesToolTokens(mcp(''))).toBeGreaterThanOrEqual(
      t(MARKER),
    );
  });

  it('the schema of a chat response_format and of a Responses text.format', () => {
    const schema = (m: string) => ({
      type: 'object',
      $defs: { Item: { type: 'string', description: m } },
      properties: { items: { type: 'array', items: { $ref: '#/$defs/Item' } } },
      required: ['items'],
      additionalProperties: false,
    });
    const chat = (m: string) =>
      countChatTokens({
        model: MODEL,
        messages: [],
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'list', schema: schema(m), strict: true },
        },
      });
    const responses = (m: string) =>
      countResponsesInput({
        model: MODEL,
        input: [],
        text: { format: { type: 'json_schema', name: 'list', schema: schema(m), strict: true } },
      });
    expect(chat(MARKER) - chat('')).toBeGreaterThanOrEqual(t(MARKER));
    expect(responses(MARKER) - responses('')).toBeGreaterThanOrEqual(t(MARKER));
    // At least the compact JSON of the schema, the likelier of the unpublished renderings.
    const empty = countChatTokens({ model: MODEL, messages: [] });
    expect(chat(MARKER) - empty).toBeGreaterThanOrEqual(t(JSON.stringify(schema(MARKER))));
  });

  it('a plain-text format adds nothing; a json_object format its few strings', () => {
    const empty = countChatTokens({ model: MODEL, messages: [] });
    expect(countChatTokens({ model: MODEL, messages: [], response_format: { type: 'text' } })).toBe(
      empty,
    );
    expect(
      countResponsesInput({ model: MODEL, input: [], text: { format: { type: 'text' } } }),
    ).toBe(countResponsesInput({ model: MODEL, input: [] }));
    expect(
      countChatTokens({ model: MODEL, messages: [], response_format: { type: 'json_object' } }),
    ).toBeGreaterThan(empty);
  });

  it('deprecated chat functions count as the tools they stand for', () => {
    const fn = { name: 'f', description: MARKER, parameters: PYDANTIC_SCHEMA };
    expect(countChatTokens({ model: MODEL, messages: [], functions: [fn] })).toBe(
      countChatTokens({
        model: MODEL,
        messages: [],
        tools: [chatTool(fn.name, fn.description, fn.parameters)],
      }),
    );
  });

  it("a stored prompt's variables count as content", () => {
    const base = countResponsesInput({ model: MODEL, input: [] });
    const withPrompt = countResponsesInput({
      model: MODEL,
      input: [],
      prompt: { variables: { topic: MARKER, note: { type: 'input_text', text: MARKER } } },
    });
    expect(withPrompt - base).toBe(2 * t(MARKER));
  });
});

describe('hostile schemas are counted in bounded time, never under', () => {
  it('a 50,000-deep object, anyOf chain and array do not overflow the stack', () => {
    const depth = 50_000;
    let object: Record<string, unknown> = { type: 'string', description: 'leaf' };
    let union: unknown = { type: 'string' };
    let array: unknown = ['leaf'];
    for (let i = 0; i < depth; i++) {
      object = { type: 'object', properties: { child: object } };
      union = { anyOf: [union, { type: 'null' }] };
      array = [array];
    }
    const parameters = { type: 'object', properties: { a: object, b: union }, default: array };
    const counted = toolTokens([chatTool('deep', 'Deep.', parameters)]);
    // Each level carries at least the key `properties` or `anyOf` and a second string.
    expect(counted).toBeGreaterThanOrEqual(leafTokens(parameters, t));
    expect(counted).toBeGreaterThan(4 * depth);
  });

  it('a 10 MB schema is counted as an upper bound past the exact budget', () => {
    const properties: Record<string, unknown> = {};
    const source = randomBase64(1_000_000, 7);
    let chars = 0;
    for (let i = 0; chars < 10_000_000; i++) {
      // 10,000 distinct 1,000-character windows of the same random text.
      const start = (i * 99) % (source.length - 1000);
      const description = `${i}${source.slice(start, start + 1000)}`;
      properties[`p${i}`] = { type: 'string', description };
      chars += description.length;
    }
    const counted = toolTokens([chatTool('huge', 'Huge.', { type: 'object', properties })]);
    // Past the first EXACT_SCHEMA_CHARS, each string counts its bytes: an upper bound.
    expect(counted).toBeGreaterThanOrEqual(chars - EXACT_SCHEMA_CHARS);
    expect(counted).toBeLessThan(Number.MAX_SAFE_INTEGER);
  });

  it('a string past the budget counts its UTF-8 bytes, which is never under its tokens', () => {
    for (const text of [
      'hello world',
      'お誕生日おめでとう',
      '👋🏽 \ud800 x',
      randomBase64(5000, 1),
    ]) {
      expect(utf8Length(text)).toBeGreaterThanOrEqual(t(text));
      expect(utf8Length(text)).toBe(Buffer.byteLength(text, 'utf8'));
    }
  });

  it('a sub-schema shared at every level is walked once per object, not once per path', () => {
    let shared: Record<string, unknown> = { type: 'string', description: 'leaf' };
    for (let i = 0; i < 80; i++) shared = { anyOf: [shared, shared] };
    // 2^80 paths: the serialised request could never be sent; the count says so, capped.
    const counted = countChatTokens({
      model: MODEL,
      messages: [],
      tools: [chatTool('dag', 'Shared.', { type: 'object', properties: { a: shared } })],
    });
    expect(counted).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('a cyclic schema (which no SDK can serialise) is counted and returns', () => {
    const parameters: Record<string, unknown> = { type: 'object', description: MARKER };
    parameters.properties = { self: parameters };
    expect(toolTokens([chatTool('cycle', 'Cycle.', parameters)])).toBeGreaterThanOrEqual(t(MARKER));
  });
});

function objectWith(property: Record<string, unknown>): Record<string, unknown> {
  return { type: 'object', properties: { a: property } };
}

/** Deterministic base64-like text (a linear congruential generator). */
function randomBase64(length: number, seed: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let state = (seed * 2654435761) >>> 0 || 1;
  let out = '';
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out += alphabet[state >>> 26];
  }
  return out;
}

import fc from 'fast-check';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { describe, expect, it } from 'vitest';
import { countChatTokens, countResponsesInput } from '../../../lib/counting/index.js';
import { leafTokens } from './schema-reference.fixture.js';

// The floor every count must reach: the tokens of every string a request carries (each string
// leaf and each key, encoded alone), by the model's encoder. The encoder here is js-tiktoken used
// directly, not the library's counter (gpt-tokenizer behind a cache and a long-run splitter).
const ENCODERS = {
  'gpt-4o': new Tiktoken(o200k),
  'gpt-4': new Tiktoken(cl100k),
} as const;
type Model = keyof typeof ENCODERS;
const MODELS = Object.keys(ENCODERS) as Model[];
const exact = (model: Model) => (text: string) => ENCODERS[model].encode(text, [], []).length;

// Text of every kind a description or key can hold: any code point, whole graphemes, ASCII,
// lone surrogates, and the characters the tool formula joins on or drops (':', '.').
const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const unit = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 1 }),
  fc.string({ unit: 'grapheme', maxLength: 1 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 1 }),
  fc.constantFrom(':', '.', ' ', '|', '"', '\n', '<|endoftext|>'),
  loneSurrogate,
);
const text = fc.string({ unit, maxLength: 24 });
const key = fc.oneof(text, fc.constantFrom('__proto__', 'constructor', 'type', 'description'));
const primitive = fc.oneof(text, fc.integer(), fc.double({ noNaN: true }), fc.boolean());

type Schema = Record<string, unknown>;
interface SchemaArbitraries {
  schema: Schema;
  object: Schema;
}

const schemas = fc.letrec<SchemaArbitraries>((tie) => {
  const sub = tie('schema') as fc.Arbitrary<Schema>;
  const annotations = fc.record(
    {
      description: text,
      title: text,
      default: primitive,
      examples: fc.array(primitive, { maxLength: 3 }),
      enum: fc.array(primitive, { minLength: 1, maxLength: 4 }),
      format: text,
    },
    { requiredKeys: [] },
  );
  const leaf = fc
    .tuple(fc.constantFrom('string', 'integer', 'number', 'boolean', 'null'), annotations)
    .map(([type, rest]) => ({ type, ...rest }));
  const combinator = fc
    .tuple(
      fc.constantFrom('anyOf', 'oneOf', 'allOf'),
      fc.array(sub, { minLength: 1, maxLength: 3 }),
      annotations,
    )
    .map(([kind, variants, rest]) => ({ [kind]: variants, ...rest }));
  const array = fc
    .tuple(sub, annotations)
    .map(([items, rest]) => ({ type: 'array', items, ...rest }));
  const ref = text.map((name) => ({ $ref: `#/$defs/${name}` }));
  return {
    schema: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      leaf,
      tie('object') as fc.Arbitrary<Schema>,
      array,
      combinator,
      ref,
    ),
    object: fc
      .tuple(
        fc.dictionary(key, sub, { maxKeys: 4, noNullPrototype: true }),
        fc.option(fc.array(key, { maxLength: 3 }), { nil: undefined }),
        fc.option(fc.dictionary(key, sub, { maxKeys: 2, noNullPrototype: true }), {
          nil: undefined,
        }),
        annotations,
      )
      .map(([properties, required, defs, rest]) => ({
        type: 'object',
        properties,
        ...(required === undefined ? {} : { required }),
        ...(defs === undefined ? {} : { $defs: defs }),
        ...rest,
      })),
  };
});

const functionDefinition = fc.record(
  {
    name: fc.oneof(fc.stringMatching(/^[a-zA-Z0-9_-]{1,64}$/), text),
    description: text,
    parameters: schemas.object,
    strict: fc.boolean(),
  },
  { requiredKeys: ['name'] },
);
const model = fc.constantFrom(...MODELS);
const settings = { numRuns: 150 };

describe('every string a request carries is counted (property)', () => {
  it('chat tools: the count never falls below the tokens of their strings and keys', () => {
    fc.assert(
      fc.property(model, fc.array(functionDefinition, { minLength: 1, maxLength: 3 }), (m, fns) => {
        const tools = fns.map((fn) => ({ type: 'function', function: fn }));
        const added =
          countChatTokens({ model: m, messages: [], tools }) -
          countChatTokens({ model: m, messages: [] });
        expect(added).toBeGreaterThanOrEqual(leafTokens(tools, exact(m)));
      }),
      settings,
    );
  });

  it('Responses tools: the same for the flat tool shape', () => {
    fc.assert(
      fc.property(model, fc.array(functionDefinition, { minLength: 1, maxLength: 3 }), (m, fns) => {
        const tools = fns.map((fn) => ({ type: 'function', ...fn }));
        const added =
          countResponsesInput({ model: m, input: [], tools }) -
          countResponsesInput({ model: m, input: [] });
        expect(added).toBeGreaterThanOrEqual(leafTokens(tools, exact(m)));
      }),
      settings,
    );
  });

  it('structured outputs: chat response_format and Responses text.format schemas', () => {
    fc.assert(
      fc.property(model, text, schemas.object, (m, name, schema) => {
        const chatFormat = { type: 'json_schema', json_schema: { name, schema, strict: true } };
        const chatAdded =
          countChatTokens({ model: m, messages: [], response_format: chatFormat }) -
          countChatTokens({ model: m, messages: [] });
        expect(chatAdded).toBeGreaterThanOrEqual(leafTokens(chatFormat, exact(m)));

        const format = { type: 'json_schema', name, schema, strict: true };
        const responsesAdded =
          countResponsesInput({ model: m, input: [], text: { format } }) -
          countResponsesInput({ model: m, input: [] });
        expect(responsesAdded).toBeGreaterThanOrEqual(leafTokens(format, exact(m)));
      }),
      settings,
    );
  });

  it('function-call arguments and tool outputs, in both APIs', () => {
    fc.assert(
      fc.property(model, text, text, text, text, (m, id, name, args, output) => {
        const chat = countChatTokens({
          model: m,
          messages: [
            {
              role: 'assistant',
              tool_calls: [{ id, type: 'function', function: { name, arguments: args } }],
            },
            { role: 'tool', tool_call_id: id, content: output },
          ],
        });
        const strings = [id, name, args, id, output, 'assistant', 'tool'];
        expect(chat).toBeGreaterThanOrEqual(leafTokens(strings, exact(m)));

        const responses = countResponsesInput({
          model: m,
          input: [
            { type: 'function_call', call_id: id, name, arguments: args },
            {
              type: 'function_call_output',
              call_id: id,
              output: [{ type: 'input_text', text: output }],
            },
          ],
        } as unknown as Parameters<typeof countResponsesInput>[0]);
        expect(responses).toBeGreaterThanOrEqual(
          leafTokens([id, name, args, id, output], exact(m)),
        );
      }),
      settings,
    );
  });
});

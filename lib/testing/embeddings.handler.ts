import { countTokens } from '../counting/index.js';
import { invalidRequest } from './openai-error.factory.js';
import { MAX_EMBEDDING_DIMENSIONS } from './fake-openai.options.js';
import { optionalInteger, requireObjectBody, requireString } from './request-body.validator.js';
import { reportedModel, sendJson, type RouteContext } from './route.context.js';
import { reportUsage, type UsageFormat } from './usage.reporter.js';

/** Embeddings usage has no completion side; an over-report's extra tokens land in the total. */
const EMBEDDINGS_USAGE: UsageFormat<{ prompt_tokens: number; total_tokens: number }> = {
  format: (u) => ({
    prompt_tokens: u.promptTokens,
    total_tokens: u.promptTokens + u.completionTokens,
  }),
  malformed: { prompt_tokens: 'many', total_tokens: null },
};

/** One embedding input: text, or text already tokenised by the caller. */
type EmbeddingInput = string | number[];

/**
 * `POST /v1/embeddings`. Accepts a string, a string array, a token array or an array of token
 * arrays, as the API does. `prompt_tokens` is the sum of each text's `countTokens` plus the length
 * of each token array. Vectors are deterministic in the input, so equal inputs embed equally.
 */
export async function handleEmbeddings(ctx: RouteContext): Promise<void> {
  const body = requireObjectBody(ctx.request.body);
  const model = requireString(body, 'model');
  const inputs = normaliseInput(body.input);
  const dimensions = readDimensions(body, ctx.options.embeddingDimensions);
  const base64 = body.encoding_format === 'base64';

  let promptTokens = 0;
  for (const input of inputs) {
    promptTokens += typeof input === 'string' ? countText(input, model) : input.length;
  }
  if (ctx.connection.gone) return;
  const billed = { promptTokens, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 };
  ctx.tally.bill(model, billed);
  const usage = reportUsage(billed, ctx.fault, ctx.tally, EMBEDDINGS_USAGE);

  const response = {
    object: 'list',
    model: reportedModel(ctx, model),
    data: inputs.map((input, index) => {
      const vector = embed(input, dimensions);
      return {
        object: 'embedding',
        index,
        // The SDK asks for base64 unless the caller chose a format, then decodes Float32 values.
        embedding: base64 ? toBase64(vector) : vector,
      };
    }),
    usage,
  };
  sendJson(ctx, 200, response);
}

function normaliseInput(input: unknown): EmbeddingInput[] {
  const invalid = () =>
    invalidRequest(
      `Invalid 'input': expected a string, an array of strings, an array of tokens or an array of token arrays.`,
      'input',
    );
  if (typeof input === 'string') return [input];
  if (!Array.isArray(input) || input.length === 0) throw invalid();
  if (input.every((x) => typeof x === 'number')) return [input as number[]];
  if (input.every((x) => typeof x === 'string')) return input as string[];
  if (
    input.every((x) => Array.isArray(x) && x.length > 0 && x.every((t) => typeof t === 'number'))
  ) {
    return input as number[][];
  }
  throw invalid();
}

function countText(text: string, model: string): number {
  try {
    return countTokens(text, model);
  } catch (error) {
    throw invalidRequest(`Invalid 'input': ${(error as Error).message}`, 'input');
  }
}

function readDimensions(body: Record<string, unknown>, fallback: number): number {
  return optionalInteger(body, 'dimensions', { min: 1, max: MAX_EMBEDDING_DIMENSIONS }) ?? fallback;
}

/**
 * A unit-free vector derived from an FNV-1a hash of the input. Components are multiples of 1/128
 * in [-1, 1), which float32 represents exactly, so the base64 and float encodings decode to the
 * same numbers.
 */
function embed(input: EmbeddingInput, dimensions: number): number[] {
  let hash = 0x811c9dc5;
  const text = typeof input === 'string' ? input : JSON.stringify(input);
  for (let i = 0; i < text.length; i++) {
    hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  }
  const vector: number[] = [];
  for (let d = 0; d < dimensions; d++) {
    hash = Math.imul(hash ^ (d + 1), 0x01000193) >>> 0;
    vector.push(((hash >>> 24) - 128) / 128);
  }
  return vector;
}

function toBase64(vector: number[]): string {
  return Buffer.from(new Float32Array(vector).buffer).toString('base64');
}

import type { ModelFacts, ModelTable } from './model-facts.js';

const O200K = 'o200k_base' as const;
const CL100K = 'cl100k_base' as const;

// One entry per model or family: its encoding, its standard-tier list price (USD per 1M tokens),
// its output limit and whether it bills hidden reasoning. Names resolve by the catalog's one rule
// (see model-name.resolver.ts), so `gpt-4o-2024-08-06` and `ft:gpt-4o-mini-…` find these.
// Families with no entry of their own (o1-preview, gpt-5.1-codex, …) take their prefix's; a
// distinct variant (gpt-4o-audio-preview, -realtime, -search, -tts, -transcribe, -deep-research)
// takes its prefix's encoding and limits but never its price (see inheritsPrice): audio tokens
// and deep research are billed at other rates. Entries without a price (gpt-oss, Azure's gpt-35-turbo) only give an encoding.
// A fact an entry leaves out is its family's (the longest prefix that has it): say `false` where a
// family's `true` must not apply.
const reasoning = (input: number, cachedInput: number | undefined, output: number) => ({
  encoding: O200K,
  price: cachedInput === undefined ? { input, output } : { input, cachedInput, output },
  reasoning: true,
});

const MODELS: Record<string, ModelFacts> = {
  'gpt-5.5': { ...reasoning(5, 0.5, 30), maxOutputTokens: 128_000 },
  'gpt-5.5-pro': { ...reasoning(30, undefined, 180), maxOutputTokens: 128_000 },
  'gpt-5.4': {
    ...reasoning(2.5, 0.25, 15),
    price: {
      input: 2.5,
      cachedInput: 0.25,
      output: 15,
      longContext: { above: 272_000, input: 5, cachedInput: 0.5, output: 22.5 },
    },
    maxOutputTokens: 128_000,
  },
  'gpt-5.4-pro': {
    ...reasoning(30, undefined, 180),
    price: { input: 30, output: 180, longContext: { above: 272_000, input: 60, output: 270 } },
    maxOutputTokens: 128_000,
  },
  'gpt-5.4-mini': { ...reasoning(0.75, 0.075, 4.5), maxOutputTokens: 128_000 },
  'gpt-5.4-nano': { ...reasoning(0.2, 0.02, 1.25), maxOutputTokens: 128_000 },
  'gpt-5.2': { ...reasoning(1.75, 0.175, 14), maxOutputTokens: 128_000 },
  'gpt-5.2-pro': { ...reasoning(21, undefined, 168), maxOutputTokens: 128_000 },
  'gpt-5.1': { ...reasoning(1.25, 0.125, 10), maxOutputTokens: 128_000 },
  'gpt-5': { ...reasoning(1.25, 0.125, 10), maxOutputTokens: 128_000 },
  'gpt-5-mini': { ...reasoning(0.25, 0.025, 2), maxOutputTokens: 128_000 },
  'gpt-5-nano': { ...reasoning(0.05, 0.005, 0.4), maxOutputTokens: 128_000 },
  'gpt-5-pro': { ...reasoning(15, undefined, 120), maxOutputTokens: 272_000 },
  'gpt-5-codex': { ...reasoning(1.25, 0.125, 10), maxOutputTokens: 128_000 },
  'gpt-5-chat-latest': {
    encoding: O200K,
    price: { input: 1.25, cachedInput: 0.125, output: 10 },
    maxOutputTokens: 16_384,
    reasoning: false, // not inherited from the gpt-5 family: the chat model does not reason
  },
  'gpt-4.1': {
    encoding: O200K,
    price: { input: 2, cachedInput: 0.5, output: 8 },
    maxOutputTokens: 32_768,
  },
  'gpt-4.1-mini': {
    encoding: O200K,
    price: { input: 0.4, cachedInput: 0.1, output: 1.6 },
    maxOutputTokens: 32_768,
  },
  'gpt-4.1-nano': {
    encoding: O200K,
    price: { input: 0.1, cachedInput: 0.025, output: 0.4 },
    maxOutputTokens: 32_768,
  },
  'gpt-4.5-preview': {
    encoding: O200K,
    price: { input: 75, cachedInput: 37.5, output: 150 },
    maxOutputTokens: 16_384,
  },
  'gpt-4o': {
    encoding: O200K,
    price: { input: 2.5, cachedInput: 1.25, output: 10 },
    maxOutputTokens: 16_384,
  },
  'gpt-4o-2024-05-13': { price: { input: 5, output: 15 }, maxOutputTokens: 4_096 },
  'gpt-4o-mini': {
    encoding: O200K,
    price: { input: 0.15, cachedInput: 0.075, output: 0.6 },
    maxOutputTokens: 16_384,
  },
  'chatgpt-4o-latest': {
    encoding: O200K,
    price: { input: 5, output: 15 },
    maxOutputTokens: 16_384,
  },
  o1: { ...reasoning(15, 7.5, 60), maxOutputTokens: 100_000 },
  'o1-mini': { ...reasoning(1.1, 0.55, 4.4), maxOutputTokens: 65_536 },
  'o1-pro': { ...reasoning(150, undefined, 600), maxOutputTokens: 100_000 },
  o3: { ...reasoning(2, 0.5, 8), maxOutputTokens: 100_000 },
  'o3-mini': { ...reasoning(1.1, 0.55, 4.4), maxOutputTokens: 100_000 },
  'o3-pro': { ...reasoning(20, undefined, 80), maxOutputTokens: 100_000 },
  'o4-mini': { ...reasoning(1.1, 0.275, 4.4), maxOutputTokens: 100_000 },
  'o3-deep-research': { ...reasoning(10, 2.5, 40), maxOutputTokens: 100_000 },
  'o4-mini-deep-research': { ...reasoning(2, 0.5, 8), maxOutputTokens: 100_000 },
  'codex-mini-latest': { ...reasoning(1.5, 0.375, 6), maxOutputTokens: 100_000 },
  // Open-weight reasoning models (gpt-oss-20b, -120b): hidden reasoning is billed as output.
  'gpt-oss': { encoding: O200K, reasoning: true },
  'gpt-4-turbo': { encoding: CL100K, price: { input: 10, output: 30 }, maxOutputTokens: 4_096 },
  'gpt-4': { encoding: CL100K, price: { input: 30, output: 60 }, maxOutputTokens: 8_192 },
  'gpt-4-32k': { encoding: CL100K, price: { input: 60, output: 120 }, maxOutputTokens: 32_768 },
  'gpt-3.5-turbo': {
    encoding: CL100K,
    price: { input: 0.5, output: 1.5 },
    maxOutputTokens: 4_096,
  },
  'gpt-3.5': { encoding: CL100K },
  'gpt-35-turbo': { encoding: CL100K },
  'davinci-002': { encoding: CL100K },
  'babbage-002': { encoding: CL100K },
  'text-embedding-3-small': { encoding: CL100K, price: { input: 0.02, output: 0 } },
  'text-embedding-3-large': { encoding: CL100K, price: { input: 0.13, output: 0 } },
  'text-embedding-ada-002': { encoding: CL100K, price: { input: 0.1, output: 0 } },
};

/**
 * OpenAI models: tiktoken encodings (as tiktoken maps them), standard-tier list prices in USD per
 * 1M tokens, output limits (`max_completion_tokens` / `max_output_tokens`, reasoning included) and
 * which models bill hidden reasoning. Nothing is fetched at run time: override or extend it with
 * a {@link ModelCatalog}'s options (or the Nest module's `prices`) when OpenAI's prices change.
 */
export const OPENAI_MODELS: ModelTable = Object.freeze({
  provider: 'openai',
  takenOn: '2026-12-01',
  source:
    'https://platform.openai.com/docs/pricing (standard tier) and the model pages at https://developers.openai.com/api/docs/models',
  models: Object.freeze(MODELS),
});

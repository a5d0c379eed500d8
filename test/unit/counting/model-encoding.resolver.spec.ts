import { describe, expect, it } from 'vitest';
import { encodingForModel } from '../../../lib/counting/index.js';

describe('encodingForModel', () => {
  it.each([
    // Exact names.
    ['gpt-4o', 'o200k_base'],
    ['gpt-4.1', 'o200k_base'],
    ['gpt-5', 'o200k_base'],
    ['o1', 'o200k_base'],
    ['o3', 'o200k_base'],
    ['o4-mini', 'o200k_base'],
    ['gpt-4', 'cl100k_base'],
    ['gpt-3.5-turbo', 'cl100k_base'],
    ['gpt-35-turbo', 'cl100k_base'],
    ['text-embedding-ada-002', 'cl100k_base'],
    ['text-embedding-3-small', 'cl100k_base'],
    ['text-embedding-3-large', 'cl100k_base'],
    ['davinci-002', 'cl100k_base'],
    // Dated and family names, by prefix.
    ['gpt-4o-2024-08-06', 'o200k_base'],
    ['gpt-4o-mini', 'o200k_base'],
    ['gpt-4o-mini-2024-07-18', 'o200k_base'],
    ['gpt-4o-audio-preview', 'o200k_base'],
    ['chatgpt-4o-latest', 'o200k_base'],
    ['gpt-4.1-mini-2025-04-14', 'o200k_base'],
    ['gpt-4.1-nano', 'o200k_base'],
    ['gpt-4.5-preview', 'o200k_base'],
    ['gpt-5-nano', 'o200k_base'],
    ['gpt-5-mini-2025-08-07', 'o200k_base'],
    ['gpt-5.1', 'o200k_base'],
    ['o1-mini', 'o200k_base'],
    ['o1-preview-2024-09-12', 'o200k_base'],
    ['o3-mini', 'o200k_base'],
    ['o3-mini-2025-01-31', 'o200k_base'],
    ['o4-mini-2025-04-16', 'o200k_base'],
    ['gpt-oss-120b', 'o200k_base'],
    ['gpt-4-0613', 'cl100k_base'],
    ['gpt-4-32k', 'cl100k_base'],
    ['gpt-4-turbo-2024-04-09', 'cl100k_base'],
    ['gpt-4-1106-preview', 'cl100k_base'],
    ['gpt-3.5-turbo-0125', 'cl100k_base'],
    ['gpt-3.5-turbo-16k', 'cl100k_base'],
    // Fine-tunes resolve through their base model.
    ['ft:gpt-4o-mini-2024-07-18:acme::9abcDEF1', 'o200k_base'],
    ['ft:gpt-4o-2024-08-06:acme:support-bot:AbC123', 'o200k_base'],
    ['ft:gpt-4.1-mini-2025-04-14:acme::XyZ', 'o200k_base'],
    ['ft:gpt-3.5-turbo-0125:acme::abc', 'cl100k_base'],
    ['ft:gpt-4-0613:acme::abc', 'cl100k_base'],
    ['ft:davinci-002:acme::abc', 'cl100k_base'],
  ])('%s → %s', (model, encoding) => {
    expect(encodingForModel(model)).toBe(encoding);
  });

  it.each([
    'claude-3-5-sonnet',
    'claude-3-5-sonnet-20241022',
    'llama-3.1-70b',
    'mistral-large-latest',
    'gemini-1.5-pro',
    'text-davinci-003',
    'gpt-40',
    'GPT-4O',
    'ft:',
    'ft:claude:acme::1',
    'ft:ft:gpt-4o',
    '',
  ])('%j → undefined', (model) => {
    expect(encodingForModel(model)).toBeUndefined();
  });

  it('never throws on non-string input from untyped callers', () => {
    for (const value of [undefined, null, 42, {}, [], Symbol('x')]) {
      expect(() => encodingForModel(value as unknown as string)).not.toThrow();
      expect(encodingForModel(value as unknown as string)).toBeUndefined();
    }
  });
});

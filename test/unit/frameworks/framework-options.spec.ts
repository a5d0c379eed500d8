import { FakeListChatModel } from '@langchain/core/utils/testing';
import { describe, expect, it } from 'vitest';
import { TokencapConfigError } from '../../../lib/errors.js';
import { budgetMiddleware, meterChatModel } from '../../../lib/frameworks/langchain/index.js';
import { meterLLM } from '../../../lib/frameworks/llamaindex/index.js';

// A chat model with no output cap field: LangChain's own test model.
const uncapped = () => new FakeListChatModel({ responses: ['hi'] });

describe('framework wrappers reject bad input with an error naming it', () => {
  it('meterChatModel: not a chat model, no cap field, a missing named field, options given twice', () => {
    expect(() => meterChatModel({} as never)).toThrow(
      new TokencapConfigError(
        'meterChatModel: expected a LangChain chat model (a BaseChatModel such as ChatOpenAI), got Object.',
      ),
    );
    expect(() => meterChatModel(uncapped())).toThrow(
      /FakeListChatModel has no output cap field \(looked for maxTokens, maxOutputTokens, numPredict\)/,
    );
    expect(() => meterChatModel(uncapped(), { maxTokensField: 'maxLength' })).toThrow(
      /FakeListChatModel has no output cap field "maxLength"/,
    );
    const model = Object.assign(uncapped(), { maxTokens: 10 });
    expect(meterChatModel(model)).toBe(model);
    expect(meterChatModel(model)).toBe(model);
    expect(() => meterChatModel(model, { defaultMaxOutputTokens: 5 })).toThrow(/already metered/);
  });

  it('meterChatModel and budgetMiddleware validate the metering options when called', () => {
    const model = Object.assign(uncapped(), { maxTokens: 10 });
    expect(() => meterChatModel(model, { defaultMaxOutputTokens: 0 })).toThrow(
      'Invalid defaultMaxOutputTokens 0 of meterChatModel: expected a positive whole number.',
    );
    expect(() => budgetMiddleware({ onExceeded: 'stop' as never })).toThrow(
      `Invalid onExceeded "stop" of budgetMiddleware: expected 'end' or 'throw'.`,
    );
    expect(() => budgetMiddleware({ budgets: [] as never, defaultMaxOutputTokens: -1 })).toThrow(
      'Invalid defaultMaxOutputTokens -1 of budgetMiddleware: expected a positive whole number.',
    );
  });

  it('meterLLM: not an LLM', () => {
    expect(() => meterLLM(null as never)).toThrow(
      'meterLLM: expected a LlamaIndex LLM (an object with a chat method), got null.',
    );
    expect(() => meterLLM({ chat: 1 } as never)).toThrow(TokencapConfigError);
  });
});

// Compile-time checks only (run by `tsc --noEmit`, never executed): the middleware and the stop
// condition fit the AI SDK's own types, in the places docs/ai-sdk.md uses them.
import { openai } from '@ai-sdk/openai';
import {
  generateText,
  type LanguageModelMiddleware,
  stepCountIs,
  type StopCondition,
  streamText,
  ToolLoopAgent,
  type ToolSet,
  wrapLanguageModel,
} from 'ai';
import { expectTypeOf } from 'vitest';
import { budgetMiddleware, budgetNearlySpent } from '../../lib/frameworks/ai-sdk/index.js';

export function aiSdkTypes(tools: ToolSet): void {
  expectTypeOf(budgetMiddleware()).toExtend<LanguageModelMiddleware>();
  expectTypeOf(budgetNearlySpent()).toExtend<StopCondition<ToolSet>>();

  const model = wrapLanguageModel({ model: openai('gpt-4o-mini'), middleware: budgetMiddleware() });
  void generateText({
    model,
    tools,
    prompt: 'Hi',
    stopWhen: [stepCountIs(25), budgetNearlySpent()],
  });
  void streamText({ model, tools, prompt: 'Hi', stopWhen: budgetNearlySpent({ fraction: 0.8 }) });
  void new ToolLoopAgent({ model, tools, stopWhen: budgetNearlySpent() });
  void wrapLanguageModel({
    model: openai('gpt-4o'),
    middleware: budgetMiddleware({ fallbackModels: { 'gpt-4o-mini': openai('gpt-4o-mini') } }),
  });
}

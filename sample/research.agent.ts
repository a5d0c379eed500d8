import type { ChatAnthropic } from '@langchain/anthropic';
import type { RunnableConfig } from '@langchain/core/runnables';
import { tool } from '@langchain/core/tools';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { createAgent, createMiddleware } from 'langchain';
import { z } from 'zod';
import { budgetMiddleware } from '../lib/frameworks/langchain/index.js';
import { Budget, BudgetExceededError, BudgetService } from '../lib/index.js';
import { RESEARCH_TASK_LIMIT } from './sample.config.js';

/** Injection token of the chat model the research agent runs on. */
export const RESEARCH_MODEL = Symbol('RESEARCH_MODEL');

/** What a research run reports. */
export interface ResearchResult {
  /** Model turns answered (each asked for another search). */
  turns: number;
  /** Tokens this run spent (its task budget's usage). */
  tokens: number;
  outcome: string;
}

/**
 * A LangChain agent (`createAgent`, a search tool, Claude) with the bug from the article: its
 * retrieval step never says "done", so it searches and reads forever, resending a growing
 * conversation each turn. The `task` budget is what stops it: `budgetMiddleware` meters every
 * model call and the refused call never reaches the provider. Without Tokencap this loop runs
 * until someone notices the bill.
 */
@Injectable()
export class ResearchAgent {
  private readonly logger = new Logger(ResearchAgent.name);
  private readonly agent;

  constructor(
    @Inject(RESEARCH_MODEL) model: ChatAnthropic,
    private readonly budgets: BudgetService,
  ) {
    this.agent = createAgent({
      model,
      tools: [search],
      systemPrompt: 'You research a topic by searching documents and summarising them.',
      // 'throw': a session refusal must reach the caller as a 429, not end the run quietly.
      middleware: [budgetMiddleware({ onExceeded: 'throw' }), neverDone],
    });
  }

  @Budget('task', RESEARCH_TASK_LIMIT)
  async research(topic: string): Promise<ResearchResult> {
    let turns = 0;
    try {
      await this.agent.invoke(
        { messages: [{ role: 'user', content: `Research: ${topic}` }] },
        // The budget, not LangGraph's step limit, is what stops this loop.
        { recursionLimit: 10_000, configurable: { searched: () => turns++ } },
      );
      return { turns, tokens: await this.used(), outcome: 'finished' };
    } catch (error) {
      // LangChain wraps what a middleware throws; the refusal is its cause.
      const refusal = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      // Only this run's own budget ends the run quietly; a session refusal becomes the caller's 429.
      if (!(refusal instanceof BudgetExceededError) || refusal.scope !== 'task') throw refusal;
      const outcome = `halted by its ${refusal.limit.toLocaleString('en')}-token task budget after ${turns} turns`;
      this.logger.warn(`Research on "${topic}" ${outcome}`);
      return { turns, tokens: await this.used(), outcome };
    }
  }

  private async used(): Promise<number> {
    return (await this.budgets.usage('task')).used;
  }
}

// The bug: the agent is made to search again every turn instead of answering.
const neverDone = createMiddleware({
  name: 'NeverDone',
  wrapModelCall: (request, handler) => handler({ ...request, toolChoice: 'required' }),
});

// A retrieval step that always finds "more": each page is a few hundred tokens of plausible text.
const search = tool(
  ({ query }: { query: string }, config?: RunnableConfig) => {
    const searched = config?.configurable?.searched as (() => number) | undefined;
    const page = (searched?.() ?? 0) + 1;
    const paragraph =
      `Result ${page} for "${query}": the invoice shows repeated calls to the same model with a ` +
      `growing context. Each call resends the whole conversation, so cost grows with the square of the turns. `;
    return paragraph.repeat(4);
  },
  {
    name: 'search',
    description: 'Searches the company documents and returns the next page of results.',
    schema: z.object({ query: z.string().describe('What to look for') }),
  },
);

import type { ChatAnthropic } from '@langchain/anthropic';
import type { RunnableConfig } from '@langchain/core/runnables';
import { tool } from '@langchain/core/tools';
import { type BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import { createAgent, createMiddleware } from 'langchain';
import { filter, Subject } from 'rxjs';
import { z } from 'zod';
import { budgetMiddleware } from '../lib/frameworks/langchain/index.js';
import { Budget, BudgetExceededError, BudgetService, type UsageEvent } from '../lib/index.js';
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

/** One step of a run, streamed to the page of the session that started it. */
export interface ResearchStep {
  type: 'research';
  session: string;
  /** `started`, then one `turn` per answered model call, then `finished`, `halted` or `failed`. */
  phase: 'started' | 'turn' | 'finished' | 'halted' | 'failed';
  /** Model turns answered so far. */
  turn: number;
  /** Tokens the run's task budget has committed so far. */
  tokens: number;
  /** The task budget's limit. */
  limit: number;
  /** Set on the last step. */
  outcome?: string;
  at: number;
}

/**
 * A LangChain agent (`createAgent`, a search tool, Claude) with the bug from the article: its
 * retrieval step never says "done", so it searches and reads forever, resending a growing
 * conversation each turn. The `task` budget is what stops it: `budgetMiddleware` meters every
 * model call and the refused call never reaches the provider. Without Tokencap this loop runs
 * until someone notices the bill.
 */
@Injectable()
export class ResearchAgent implements BeforeApplicationShutdown {
  private readonly logger = new Logger(ResearchAgent.name);
  private readonly agent;
  private readonly steps = new Subject<ResearchStep>();
  /** Every step of every run; the SSE endpoint filters it by session. */
  readonly steps$ = this.steps.asObservable();
  // The steps of each session's last run, so a reloaded page can draw it again.
  private readonly lastRuns = new Map<string, ResearchStep[]>();

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
    const session = (await this.budgets.usage('session')).key;
    const task = (await this.budgets.usage('task')).key;
    const run: ResearchStep[] = [];
    this.lastRuns.set(session, run);
    let turns = 0;
    const step = (phase: ResearchStep['phase'], tokens: number, outcome?: string) => {
      const next: ResearchStep = {
        type: 'research',
        session,
        phase,
        turn: turns,
        tokens,
        limit: RESEARCH_TASK_LIMIT,
        at: Date.now(),
        ...(outcome === undefined ? {} : { outcome }),
      };
      run.push(next);
      this.steps.next(next);
    };
    step('started', 0);
    // One usage event per answered model call: the task budget's committed total after it.
    const metered = this.budgets.events$
      .pipe(
        filter((e): e is UsageEvent => e.type === 'usage' && e.scope === 'task' && e.key === task),
      )
      .subscribe((e) => {
        turns++;
        step('turn', e.used);
      });
    try {
      await this.agent.invoke(
        { messages: [{ role: 'user', content: `Research: ${topic}` }] },
        // The budget, not LangGraph's step limit, is what stops this loop.
        { recursionLimit: 10_000, configurable: { searched: () => turns } },
      );
      const tokens = await this.used();
      step('finished', tokens, 'finished');
      return { turns, tokens, outcome: 'finished' };
    } catch (error) {
      // LangChain wraps what a middleware throws; the refusal is its cause.
      const refusal = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const tokens = await this.used();
      // Only this run's own budget ends the run quietly; a session refusal becomes the caller's 429.
      if (!(refusal instanceof BudgetExceededError) || refusal.scope !== 'task') {
        const why =
          refusal instanceof BudgetExceededError
            ? `refused by the ${refusal.scope} budget after ${turns} turns`
            : `failed after ${turns} turns`;
        step('failed', tokens, why);
        throw refusal;
      }
      const outcome = `halted by its ${refusal.limit.toLocaleString('en-US')}-token task budget after ${turns} turns`;
      this.logger.warn(`Research on "${topic}" ${outcome}`);
      step('halted', tokens, outcome);
      return { turns, tokens, outcome };
    } finally {
      metered.unsubscribe();
    }
  }

  // Completes the steps stream with the budget events, so an open SSE page does not hold app.close().
  beforeApplicationShutdown(): void {
    this.steps.complete();
  }

  /** The steps of `session`'s last research run (empty when it ran none). */
  lastRun(session: string): readonly ResearchStep[] {
    return this.lastRuns.get(session) ?? [];
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

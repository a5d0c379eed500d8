import { Injectable, Logger } from '@nestjs/common';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { Budget, BudgetExceededError, BudgetService } from '../lib/index.js';
import { CHAT_MODEL, RESEARCH_TASK_LIMIT } from './sample.config.js';

/** What a research run reports. */
export interface ResearchResult {
  turns: number;
  /** Tokens this run spent (its task budget's usage). */
  tokens: number;
  outcome: string;
}

/**
 * An agent with the bug from the article: its retrieval step never says "done", so it searches
 * and summarises forever, resending a growing conversation each turn. The `task` budget is what
 * stops it; without Tokencap this loop runs until someone notices the bill.
 */
@Injectable()
export class ResearchAgent {
  private readonly logger = new Logger(ResearchAgent.name);

  constructor(
    private readonly openai: OpenAI,
    private readonly budgets: BudgetService,
  ) {}

  @Budget('task', RESEARCH_TASK_LIMIT)
  async research(topic: string): Promise<ResearchResult> {
    const messages: ChatCompletionMessageParam[] = [
      {
        role: 'system',
        content: 'You research a topic by searching documents and summarising them.',
      },
      { role: 'user', content: `Research: ${topic}` },
    ];
    let turns = 0;
    try {
      for (;;) {
        turns++;
        messages.push({ role: 'user', content: searchResults(topic, turns) });
        const completion = await this.openai.chat.completions.create({
          model: CHAT_MODEL,
          messages,
          max_tokens: 300,
        });
        messages.push({ role: 'assistant', content: completion.choices[0]?.message.content ?? '' });
      }
    } catch (error) {
      // Only this run's own budget ends the run quietly; a session refusal becomes the caller's 429.
      if (!(error instanceof BudgetExceededError) || error.scope !== 'task') throw error;
      const { used } = await this.budgets.usage('task');
      const outcome = `halted by its ${error.limit.toLocaleString('en')}-token task budget after ${turns - 1} turns`;
      this.logger.warn(`Research on "${topic}" ${outcome}`);
      return { turns: turns - 1, tokens: used, outcome };
    }
  }
}

// A retrieval step that always finds "more": each page is a few hundred tokens of plausible text.
function searchResults(topic: string, page: number): string {
  const paragraph =
    `Result ${page} for "${topic}": the invoice shows repeated calls to the same model with a growing ` +
    `context. Each call resends the whole conversation, so cost grows with the square of the turns. `;
  return paragraph.repeat(4);
}

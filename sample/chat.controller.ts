import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import OpenAI from 'openai';
import { Budget, BudgetService } from '../lib/index.js';
import { ResearchAgent } from './research.agent.js';
import { CHAT_MODEL, SESSION_LIMIT } from './sample.config.js';

interface ChatBody {
  message?: unknown;
}

/** The chat endpoint and the runaway research agent, both inside the session's budget. */
@Controller('api')
@Budget('session', SESSION_LIMIT)
export class ChatController {
  constructor(
    private readonly openai: OpenAI,
    private readonly agent: ResearchAgent,
    private readonly budgets: BudgetService,
  ) {}

  /** One chat turn. Refused with 429 once the session's 50,000 tokens are spent. */
  @Post('chat')
  @HttpCode(200)
  async chat(@Body() body: ChatBody) {
    const message =
      typeof body?.message === 'string' && body.message.trim() ? body.message.trim() : 'Hello!';
    const completion = await this.openai.chat.completions.create({
      model: CHAT_MODEL,
      messages: [
        { role: 'system', content: 'You are a concise assistant.' },
        { role: 'user', content: message },
      ],
    });
    return { reply: completion.choices[0]?.message.content ?? '', usage: completion.usage };
  }

  /** Starts the research agent; its own `task` budget halts the loop, inside the session budget. */
  @Post('research')
  @HttpCode(200)
  research(@Body() body: { topic?: unknown }) {
    const topic =
      typeof body?.topic === 'string' && body.topic.trim() ? body.topic.trim() : 'our costs';
    return this.agent.research(topic);
  }

  /** This session's budget: `{ scope, key, used, reserved, limit, remaining, … }`. */
  @Get('usage')
  usage() {
    return this.budgets.usage('session');
  }
}

import Anthropic from '@anthropic-ai/sdk';
import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Inject,
  Post,
  Query,
} from '@nestjs/common';
import OpenAI from 'openai';
import { Budget, BudgetService } from '../lib/index.js';
import { quoteClientValue } from '../lib/errors.js';
import { ResearchAgent } from './research.agent.js';
import {
  CHAT_MODEL,
  CLAUDE_CHAT_MODEL,
  SAMPLE_PROVIDERS,
  type SampleProvider,
  SESSION_LIMIT,
} from './sample.config.js';

/** Injection token of the provider a chat request uses when it names none. */
export const DEFAULT_PROVIDER = Symbol('DEFAULT_PROVIDER');

const SYSTEM_PROMPT = 'You are a concise assistant.';

interface ChatBody {
  message?: unknown;
}

/** The chat endpoint and the runaway research agent, both inside the session's budget. */
@Controller('api')
@Budget('session', SESSION_LIMIT, { window: 'day' })
export class ChatController {
  constructor(
    private readonly openai: OpenAI,
    private readonly anthropic: Anthropic,
    private readonly agent: ResearchAgent,
    private readonly budgets: BudgetService,
    @Inject(DEFAULT_PROVIDER) private readonly defaultProvider: SampleProvider,
  ) {}

  /**
   * One chat turn, on OpenAI or on Anthropic (`?provider=anthropic`, default from
   * `TOKENCAP_SAMPLE_PROVIDER`). Refused with 429 once the session's 50,000 tokens are spent.
   */
  @Post('chat')
  @HttpCode(200)
  async chat(@Body() body: ChatBody, @Query('provider') provider?: unknown) {
    const chosen = this.providerOf(provider);
    const message =
      typeof body?.message === 'string' && body.message.trim() ? body.message.trim() : 'Hello!';
    if (chosen === 'anthropic') {
      const reply = await this.anthropic.messages.create({
        model: CLAUDE_CHAT_MODEL,
        max_tokens: 1024,
        system: SYSTEM_PROMPT,
        messages: [{ role: 'user', content: message }],
      });
      const text = reply.content.map((block) => (block.type === 'text' ? block.text : '')).join('');
      return { provider: chosen, model: reply.model, reply: text, usage: reply.usage };
    }
    const completion = await this.openai.chat.completions.create({
      model: CHAT_MODEL,
      messages: [
        { role: 'system', content: SYSTEM_PROMPT },
        { role: 'user', content: message },
      ],
    });
    return {
      provider: chosen,
      model: completion.model,
      reply: completion.choices[0]?.message.content ?? '',
      usage: completion.usage,
    };
  }

  /** Starts the research agent; its own `task` budget halts the loop, inside the session budget. */
  @Post('research')
  @HttpCode(200)
  research(@Body() body: { topic?: unknown }) {
    const topic =
      typeof body?.topic === 'string' && body.topic.trim() ? body.topic.trim() : 'our costs';
    return this.agent.research(topic);
  }

  private providerOf(value: unknown): SampleProvider {
    if (value === undefined || value === '') return this.defaultProvider;
    if (SAMPLE_PROVIDERS.includes(value as SampleProvider)) return value as SampleProvider;
    throw new BadRequestException(
      `Unknown provider ${quoteClientValue(value)}: expected ${SAMPLE_PROVIDERS.join(' or ')}.`,
    );
  }

  /**
   * This session's budget: `{ scope, key, used, reserved, limit, remaining, burnRate,
   * projectedExhaustion, windowEnd, … }`.
   */
  @Get('usage')
  usage() {
    return this.budgets.usage('session');
  }
}

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
import { Budget, BudgetService, type BudgetUsage, type RefusedEvent } from '../lib/index.js';
import { quoteClientValue } from '../lib/errors.js';
import { ResearchAgent } from './research.agent.js';
import {
  CHAT_MODEL,
  CLAUDE_CHAT_MODEL,
  SAMPLE_PROVIDERS,
  type SampleProvider,
  SESSION_LIMIT,
  USER_DAILY_USD,
} from './sample.config.js';
import { RefusalLog } from './refusal-log.service.js';

/** Injection token of the provider a chat request uses when it names none. */
export const DEFAULT_PROVIDER = Symbol('DEFAULT_PROVIDER');

const DAY_MS = 86_400_000;

const SYSTEM_PROMPT = 'You are a concise assistant.';

interface ChatBody {
  message?: unknown;
}

/** The chat endpoint and the runaway research agent, both inside the session's budget. */
@Controller('api')
@Budget('session', SESSION_LIMIT, { window: 'day' })
@Budget('user', { usd: USER_DAILY_USD }, { window: 'day' })
export class ChatController {
  constructor(
    private readonly openai: OpenAI,
    private readonly anthropic: Anthropic,
    private readonly agent: ResearchAgent,
    private readonly budgets: BudgetService,
    @Inject(DEFAULT_PROVIDER) private readonly defaultProvider: SampleProvider,
    private readonly refusals: RefusalLog,
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

  /**
   * Every budget the page shows, read from the server so a reload restores it: the session's and
   * the user's usage (with `windowEnd` and the forecast) and the last refusal of each, and the
   * steps of the session's last research run (its task budget lives only as long as the run).
   */
  @Get('budgets')
  async all() {
    const [session, user] = await Promise.all([
      this.budgets.usage('session'),
      this.budgets.usage('user'),
    ]);
    // Both budgets are daily: a refusal from an earlier day no longer explains today's meter.
    const today = (refusal: RefusedEvent | null, usage: BudgetUsage) =>
      refusal && usage.windowEnd !== null && refusal.at >= usage.windowEnd - DAY_MS
        ? refusal
        : null;
    return {
      session: {
        ...session,
        lastRefusal: today(this.refusals.lastOf('session', session.key), session),
      },
      user: { ...user, lastRefusal: today(this.refusals.lastOf('user', user.key), user) },
      research: this.agent.lastRun(session.key),
    };
  }
}

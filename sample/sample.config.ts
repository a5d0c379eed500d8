/**
 * A session gets 50,000 tokens, like the support agent in the article, and at most $1.50 (what
 * those tokens cost on a frontier model; on the sample's model the token limit binds first).
 */
export const SESSION_LIMIT = { tokens: 50_000, usd: 1.5 };

/**
 * Every visitor of the sample is one demo user (the page sends `x-user-id: demo-user`; the sample
 * has no login), with a daily dollar allowance across all their sessions and providers.
 */
export const DEMO_USER = 'demo-user';
export const USER_DAILY_USD = 0.25;

/** One research run may spend this much before its own `task` budget halts the loop. */
export const RESEARCH_TASK_LIMIT = 21_000;

/** The model the chat uses; the research agent uses the same one so costs are comparable. */
export const CHAT_MODEL = 'gpt-4o-mini';

/** The Claude model the chat uses when it runs on Anthropic. */
export const CLAUDE_CHAT_MODEL = 'claude-haiku-4-5';

/** The providers the chat can run on. */
export const SAMPLE_PROVIDERS = ['openai', 'anthropic'] as const;
export type SampleProvider = (typeof SAMPLE_PROVIDERS)[number];

/** Where one of the sample's clients points. */
export interface ProviderConnection {
  apiKey: string;
  /** Unset means the real API. */
  baseURL?: string;
  /** Shown in the first log line. */
  description: string;
}

/** Both clients, and the provider a chat request uses when it names none. */
export interface SampleConnections {
  openai: ProviderConnection;
  anthropic: ProviderConnection;
  /** From `TOKENCAP_SAMPLE_PROVIDER`, else `'openai'`. */
  defaultProvider: SampleProvider;
}

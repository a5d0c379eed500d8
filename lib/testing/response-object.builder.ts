import type OpenAI from 'openai';

import type { ReplyPlan } from './reply.planner.js';
import { replyText, type ReplyStyle } from './reply.planner.js';
import type { ReportedUsage, UsageFormat } from './usage.reporter.js';

/** A Response as the wire carries it: `output_text` is computed by the SDK, not sent. */
export type WireResponse = Omit<OpenAI.Responses.Response, 'output_text' | 'usage'> & {
  usage: unknown;
};

/** Responses API usage, with the detail objects callers read cached and reasoning tokens from. */
export const RESPONSES_USAGE: UsageFormat<OpenAI.Responses.ResponseUsage> = {
  format: (u: ReportedUsage) => ({
    input_tokens: u.promptTokens,
    input_tokens_details: { cached_tokens: u.cachedTokens, cache_write_tokens: 0 },
    output_tokens: u.completionTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens },
    total_tokens: u.promptTokens + u.completionTokens,
  }),
  malformed: { input_tokens: null, output_tokens: 'twelve', total_tokens: -1 },
};

/** Ids and timing shared by every snapshot of one response. */
export interface ResponseIdentity {
  id: string;
  messageId: string;
  reasoningId: string | undefined;
  createdAt: number;
  model: string;
}

/** The reasoning item a reasoning model puts first in `output` (its content stays hidden). */
export function reasoningItem(identity: ResponseIdentity): OpenAI.Responses.ResponseReasoningItem {
  return { id: identity.reasoningId ?? '', type: 'reasoning', summary: [] };
}

/** The assistant message holding `contentTokens` tokens of text. */
export function messageItem(
  identity: ResponseIdentity,
  text: string | undefined,
  status: 'in_progress' | 'completed' | 'incomplete',
): OpenAI.Responses.ResponseOutputMessage {
  return {
    id: identity.messageId,
    type: 'message',
    role: 'assistant',
    status,
    content: text === undefined ? [] : [outputText(text)],
  };
}

/** An `output_text` content part. */
export function outputText(text: string): OpenAI.Responses.ResponseOutputText {
  return { type: 'output_text', text, annotations: [], logprobs: [] };
}

/**
 * True when the reply has a message item. When the cap is used up by reasoning, the real API
 * returns only the reasoning item, and so does the fake.
 */
export function hasMessage(plan: ReplyPlan): boolean {
  return !(plan.truncated && plan.contentTokens === 0);
}

/** The final `output` array of a reply. */
export function finalOutput(
  identity: ResponseIdentity,
  plan: ReplyPlan,
  style: ReplyStyle,
): OpenAI.Responses.ResponseOutputItem[] {
  const output: OpenAI.Responses.ResponseOutputItem[] = [];
  if (identity.reasoningId !== undefined) output.push(reasoningItem(identity));
  if (hasMessage(plan)) {
    const status = plan.truncated ? 'incomplete' : 'completed';
    output.push(messageItem(identity, replyText(plan.contentTokens, style), status));
  }
  return output;
}

/**
 * A Response object in the given state. Request settings are echoed back, as the API does, so
 * code reading e.g. `response.max_output_tokens` sees what it sent.
 */
export function buildResponse(
  identity: ResponseIdentity,
  body: Record<string, unknown>,
  state: {
    status: 'in_progress' | 'completed' | 'incomplete';
    output: OpenAI.Responses.ResponseOutputItem[];
    usage: unknown;
    completedAt: number | null;
  },
): WireResponse {
  const reasoning = body.reasoning as { effort?: OpenAI.ReasoningEffort } | undefined;
  return {
    id: identity.id,
    object: 'response',
    created_at: identity.createdAt,
    status: state.status,
    background: false,
    completed_at: state.completedAt,
    error: null,
    incomplete_details: state.status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: (body.instructions as string | undefined) ?? null,
    max_output_tokens: (body.max_output_tokens as number | undefined) ?? null,
    metadata: (body.metadata as Record<string, string> | undefined) ?? {},
    model: identity.model,
    output: state.output,
    parallel_tool_calls: (body.parallel_tool_calls as boolean | undefined) ?? true,
    previous_response_id: (body.previous_response_id as string | undefined) ?? null,
    reasoning: { effort: reasoning?.effort ?? null, summary: null },
    service_tier: 'default',
    temperature: (body.temperature as number | undefined) ?? 1,
    text: (body.text as OpenAI.Responses.ResponseTextConfig | undefined) ?? {
      format: { type: 'text' },
    },
    tool_choice: (body.tool_choice as OpenAI.Responses.ToolChoiceOptions | undefined) ?? 'auto',
    tools: (body.tools as OpenAI.Responses.Tool[] | undefined) ?? [],
    top_p: (body.top_p as number | undefined) ?? 1,
    truncation: 'disabled',
    // undefined drops the key from the JSON, which is how `omit-usage` leaves usage out.
    usage: state.usage,
  };
}

import { type Attributes, type Span, trace } from '@opentelemetry/api';
import type { SettledCall, TokencapEvent } from '../core/events.js';

/**
 * The budget events recorded as span events, by the span event's name. A new event kind is one
 * line here: its scalar fields become the span event's attributes, `tokencap.*` in snake case.
 */
export const SPAN_EVENT_NAMES: { readonly [T in TokencapEvent['type']]?: string } = {
  refused: 'tokencap.refused',
  threshold: 'tokencap.threshold',
  exhausted: 'tokencap.exhausted',
  degraded: 'tokencap.degraded',
};

/** Per span, the tokens of every call settled in it: a span holding two calls reports their sum. */
type SpanTotals = { input: number; output: number };

/** Writes the GenAI usage attributes and Tokencap's span events on the active span. */
export class SpanAnnotator {
  private readonly totals = new WeakMap<Span, SpanTotals>();

  call(call: SettledCall): void {
    const span = recordingSpan();
    if (!span) return;
    let totals = this.totals.get(span);
    if (!totals) this.totals.set(span, (totals = { input: 0, output: 0 }));
    totals.input += call.usage.inputTokens;
    totals.output += call.usage.outputTokens;
    const attributes: Attributes = {
      'gen_ai.operation.name': call.operation,
      'gen_ai.request.model': call.requestModel,
      'gen_ai.response.model': call.usage.model,
      'gen_ai.usage.input_tokens': totals.input,
      'gen_ai.usage.output_tokens': totals.output,
    };
    if (call.provider !== undefined) attributes['gen_ai.provider.name'] = call.provider;
    if (call.maxOutputTokens !== undefined) {
      attributes['gen_ai.request.max_tokens'] = call.maxOutputTokens;
    }
    span.setAttributes(attributes);
  }

  event(event: TokencapEvent): void {
    const name = SPAN_EVENT_NAMES[event.type];
    if (name === undefined) return;
    recordingSpan()?.addEvent(name, eventAttributes(event));
  }
}

function recordingSpan(): Span | undefined {
  const span = trace.getActiveSpan();
  return span?.isRecording() ? span : undefined;
}

/**
 * An event's scalar fields (all but `type` and `at`) as `tokencap.*` attributes, in snake case:
 * `scope` → `tokencap.scope`, `fallbackModel` → `tokencap.fallback_model`.
 */
export function eventAttributes(event: TokencapEvent): Attributes {
  const attributes: Attributes = {};
  for (const [field, value] of Object.entries(event)) {
    if (field === 'type' || field === 'at') continue;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      continue;
    }
    attributes[`tokencap.${field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`] = value;
  }
  return attributes;
}

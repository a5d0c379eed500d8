import type {
  LanguageModelV4,
  LanguageModelV4CallOptions,
  LanguageModelV4GenerateResult,
  LanguageModelV4Middleware,
  LanguageModelV4StreamPart,
  LanguageModelV4StreamResult,
} from '@ai-sdk/provider';
import { quoteClientValue, TokencapConfigError } from '../../errors.js';
import { planCall } from '../../metering/call.planner.js';
import { neverConnected } from '../../metering/connection-failure.js';
import type { MeteredCall } from '../../metering/metered-call.js';
import {
  type MeteringOptions,
  meteringContextResolver,
} from '../../metering/metering-context.resolver.js';
import { meterItems } from '../../metering/stream.meter.js';
import { eagerStream } from '../../metering/eager.stream.js';
import { callBody, callOf, languageModelEndpoint } from './language-model.endpoint.js';
import { notePlannedInput } from './planned-input.memo.js';

/** Options of {@link budgetMiddleware}: the options of every wrapper, and fallback models. */
export interface BudgetMiddlewareOptions extends MeteringOptions {
  /**
   * The models a `degrade` budget's `fallbackModel` names, by that name: once the budget reaches
   * its `degradeAt`, calls go to this model instead of the wrapped one. A `degrade` budget whose
   * fallback model is missing here fails the call with a `TokencapConfigError` before anything
   * is sent.
   * @default {}
   */
  fallbackModels?: Readonly<Record<string, LanguageModelV4>>;
}

/**
 * A language-model middleware for the Vercel AI SDK (`wrapLanguageModel({ model, middleware })`),
 * for any provider package. Inside a budget context (`runWithBudgets`, `@Budget`), each model call
 * (`doGenerate`, `doStream`: every step of `generateText`, `streamText`, `generateObject` and the
 * agent classes) is counted and reserved on every open budget before it is sent, or refused with
 * `BudgetExceededError`; under `hard-stop` its `maxOutputTokens` is clamped to what the budget has
 * left; a stream is cut once its output passes that; and the call settles from the usage the
 * provider reported (input, cached input, cache writes, output, reasoning), or from an estimate
 * (never 0) when none came (an aborted or failed stream). Calls outside a budget context pass
 * straight through unless `options.budgets` are set.
 * @throws TokencapConfigError when an option is invalid.
 * @example
 * const model = wrapLanguageModel({ model: openai('gpt-4o-mini'), middleware: budgetMiddleware() });
 * await runWithBudgets(ledger, [defineBudget({ scope: 'task', key: id, limit: 20_000 })], () =>
 *   generateText({ model, tools, stopWhen: budgetNearlySpent(), prompt }),
 * );
 */
export function budgetMiddleware(options: BudgetMiddlewareOptions = {}): LanguageModelV4Middleware {
  const { fallbackModels = {}, ...metering } = options;
  const contextOf = meteringContextResolver(metering, 'budgetMiddleware');
  for (const [name, model] of Object.entries(fallbackModels)) {
    if (typeof (model as Partial<LanguageModelV4> | null)?.doGenerate !== 'function') {
      throw new TokencapConfigError(
        `Invalid fallbackModels[${quoteClientValue(name)}] of budgetMiddleware: expected a language model (openai('…'), anthropic('…'), …).`,
      );
    }
  }

  /** Plans the call, or `undefined` when no budget is open (the call passes through). */
  async function plan(model: LanguageModelV4, params: LanguageModelV4CallOptions, stream: boolean) {
    const context = contextOf();
    if (!context) return undefined;
    const body = callBody({ model: model.modelId, provider: model.provider, params }, stream);
    const planned = await planCall(context, languageModelEndpoint(model.modelId), body);
    if (planned.kind === 'fallback') return planned;
    notePlannedInput(context.frame, planned.call.plan.input.inputTokens);
    const sent = callOf(planned.body);
    let target = model;
    if (sent.model !== model.modelId) {
      const fallback = Object.hasOwn(fallbackModels, sent.model)
        ? fallbackModels[sent.model]
        : undefined;
      if (!fallback) {
        await planned.call.release();
        throw new TokencapConfigError(
          `budgetMiddleware: a degrade budget switches ${quoteClientValue(model.modelId)} to ` +
            `${quoteClientValue(sent.model)}, which is not in its fallbackModels option; the call was not sent.`,
        );
      }
      target = fallback;
    }
    return { kind: 'send' as const, call: planned.call, params: sent.params, target };
  }

  return {
    specificationVersion: 'v4',

    async wrapGenerate({ doGenerate, params, model }) {
      const planned = await plan(model, params, false);
      if (!planned) return doGenerate();
      if (planned.kind === 'fallback') return planned.data as LanguageModelV4GenerateResult;
      const { call, target } = planned;
      const unsent = params.abortSignal?.aborted === true;
      let result: LanguageModelV4GenerateResult;
      try {
        result = await target.doGenerate(planned.params);
      } catch (error) {
        await failed(call, error, unsent);
        throw error;
      }
      await call.settleFromData(result);
      return result;
    },

    async wrapStream({ doStream, params, model }) {
      const planned = await plan(model, params, true);
      if (!planned) return doStream();
      if (planned.kind === 'fallback') {
        return streamOf(planned.data as LanguageModelV4GenerateResult);
      }
      const { call, target } = planned;
      // Lets the budget stop the provider's request when it cuts the stream.
      const abort = new AbortController();
      const signal = params.abortSignal
        ? AbortSignal.any([params.abortSignal, abort.signal])
        : abort.signal;
      const unsent = signal.aborted;
      let result: LanguageModelV4StreamResult;
      try {
        result = await target.doStream({ ...planned.params, abortSignal: signal });
      } catch (error) {
        await failed(call, error, unsent);
        throw error;
      }
      const reader = result.stream.getReader();
      const parts = meterItems(partsOf(reader), call.streamMetering(), () => abort.abort());
      // Cancelled by the SDK: stop the provider's request; the parts seen so far are charged.
      const stop = async () => {
        await reader.cancel().catch(() => {});
        abort.abort();
      };
      return { ...result, stream: eagerStream(parts, stop) };
    },
  };
}

/**
 * The call failed before its result was read. A call whose signal had aborted before it was handed
 * to the model (the provider's fetch then sends nothing), an HTTP error response, or a connection
 * that was never made (refused, unknown host, TLS failure), is billed nothing: released. Anything else may
 * have been billed: a connection that dropped before the response (reset, closed by the other
 * side) may have carried the request, which the provider then ran, and a response that came but
 * could not be read was billed. A plain call is charged what was reserved (the provider runs it to
 * its end); a stream its estimate, the counted input and the grant of a model whose output is not
 * counted exactly (the provider stops a stream whose client has gone). Fail closed, so a budget
 * stops the SDK's retries of it.
 */
async function failed(call: MeteredCall, error: unknown, unsent: boolean): Promise<void> {
  if (unsent) return call.release();
  const apiError = (error as { name?: unknown } | null)?.name === 'AI_APICallError';
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  if (apiError && typeof status === 'number' && status >= 300) return call.release();
  if (neverConnected(error)) return call.release();
  if (call.plan.stream) return call.chargeEstimate();
  return call.chargeReservation();
}

async function* partsOf(
  reader: ReadableStreamDefaultReader<LanguageModelV4StreamPart>,
): AsyncGenerator<LanguageModelV4StreamPart> {
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        return;
      }
      yield next.value;
    }
  } finally {
    // Left early (the budget cut it): stop reading the provider's body.
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}

/** A `degrade` budget's fallback answer (a generate result) as a stream of parts. */
function streamOf(result: LanguageModelV4GenerateResult): LanguageModelV4StreamResult {
  const parts: LanguageModelV4StreamPart[] = [{ type: 'stream-start', warnings: [] }];
  (result.content ?? []).forEach((part, i) => {
    if (part.type !== 'text') return parts.push(part as LanguageModelV4StreamPart);
    const id = String(i);
    parts.push(
      { type: 'text-start', id },
      { type: 'text-delta', id, delta: part.text },
      { type: 'text-end', id },
    );
  });
  parts.push({ type: 'finish', usage: result.usage, finishReason: result.finishReason });
  return {
    stream: new ReadableStream({
      start(controller) {
        for (const part of parts) controller.enqueue(part);
        controller.close();
      },
    }),
  };
}

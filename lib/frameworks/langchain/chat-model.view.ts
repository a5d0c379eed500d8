import { BaseChatModel } from '@langchain/core/language_models/chat_models';
import { positiveCap, record } from '../../metering/json.guards.js';
import { MIN_THINKING_BUDGET } from '../../providers/anthropic/messages-output.cap.js';
import { singleAttemptCaller } from './attempt.retrier.js';

// Marks a per-call view, whose methods run the model's original code unmetered (the call that
// made the view already meters them).
export const VIEW = Symbol('tokencap.langchain.view');

// Pass-through request fields (ChatOpenAI's `modelKwargs`, ChatAnthropic's `invocationKwargs`)
// are spread over the request after the model's own fields, so a cap there would win over ours.
const KWARGS_FIELDS = ['modelKwargs', 'invocationKwargs'];
const KWARGS_CAPS = ['max_tokens', 'max_completion_tokens', 'max_output_tokens'];

/** The lowest output cap set in the model's pass-through request fields, if any. */
export function kwargsCap(model: object): number | undefined {
  let lowest: number | undefined;
  for (const kwargs of KWARGS_FIELDS) {
    const fields = (model as Record<string, unknown>)[kwargs];
    if (typeof fields !== 'object' || fields === null) continue;
    for (const key of KWARGS_CAPS) {
      const value = (fields as Record<string, unknown>)[key];
      if (typeof value === 'number' && Number.isFinite(value) && value > 0) {
        lowest = lowest === undefined ? value : Math.min(lowest, value);
      }
    }
  }
  return lowest;
}

/** A copy of pass-through fields with every cap they hold lowered to `cap`, or undefined. */
function loweredKwargs(fields: unknown, cap: number): Record<string, unknown> | undefined {
  if (typeof fields !== 'object' || fields === null) return undefined;
  const present = KWARGS_CAPS.filter((key) => key in fields);
  if (present.length === 0) return undefined;
  const lowered: Record<string, unknown> = { ...(fields as Record<string, unknown>) };
  for (const key of present) lowered[key] = cap;
  return lowered;
}

/**
 * Extended thinking's `budget_tokens` as the model sends it (its `invocationKwargs.thinking`, spread
 * last, else its `thinking` field), when thinking is enabled with a valid budget (>= 1024; an
 * invalid one is the caller's own 400, sent as given).
 */
export function thinkingBudget(model: object): number | undefined {
  const fields = model as Record<string, unknown>;
  const kwargs = record(fields.invocationKwargs);
  const thinking = record(kwargs && 'thinking' in kwargs ? kwargs.thinking : fields.thinking);
  if (thinking?.type !== 'enabled') return undefined;
  const budget = positiveCap(thinking.budget_tokens);
  return budget !== undefined && budget >= MIN_THINKING_BUDGET ? budget : undefined;
}

/** The model's thinking fields with `budget_tokens` set to `budget`, where they hold one. */
function loweredThinking(model: object, budget: number, view: Record<PropertyKey, unknown>): void {
  const fields = model as Record<string, unknown>;
  const thinking = record(fields.thinking);
  if (thinking?.type === 'enabled') view.thinking = { ...thinking, budget_tokens: budget };
  const kwargs = record(view.invocationKwargs ?? fields.invocationKwargs);
  const inKwargs = record(kwargs?.thinking);
  if (kwargs && inKwargs?.type === 'enabled') {
    view.invocationKwargs = { ...kwargs, thinking: { ...inKwargs, budget_tokens: budget } };
  }
}

/** What one planned call changes on the model it runs on. */
export interface ViewFields {
  /** The field that holds the model's output cap (`maxTokens`, `maxOutputTokens`, …). */
  capField: string;
  cap: number | undefined;
  /** The model to send instead of the model's own (a `degrade` budget's fallback model). */
  model: string | undefined;
  /** Extended thinking's `budget_tokens`, when the clamp lowered it below the cap. */
  thinking?: number;
}

/**
 * A view of `model` for one call: an object whose prototype is the model, with the planned cap
 * and model set on it, so concurrent calls never see each other's cap and the model itself is
 * left untouched. Chat models that delegate to inner models held in their own fields
 * (`ChatOpenAI` runs through its `completions` and `responses` models) get views of those too.
 */
export function viewOf<Model extends object>(model: Model, fields: ViewFields): Model {
  const view = Object.create(model) as Record<PropertyKey, unknown>;
  view[VIEW] = true;
  let completionCap = false;
  if (fields.cap !== undefined) {
    for (const kwargs of KWARGS_FIELDS) {
      const lowered = loweredKwargs((model as Record<string, unknown>)[kwargs], fields.cap);
      if (lowered) {
        view[kwargs] = lowered;
        if ('max_completion_tokens' in lowered) completionCap = true;
      }
    }
    // A max_completion_tokens the caller put in pass-through fields is lowered where it is: setting
    // the model's own field too would make ChatOpenAI send max_tokens beside it, which OpenAI
    // refuses (400). (ChatOpenAI 1.x does not send a pass-through max_tokens alone: there the own
    // field carries the cap.)
    const own = positiveCap((model as Record<string, unknown>)[fields.capField]);
    if (!completionCap || own !== undefined) {
      view[fields.capField] = fields.cap;
      completionCap = false;
    }
  }
  if (fields.thinking !== undefined && fields.thinking !== thinkingBudget(model)) {
    loweredThinking(model, fields.thinking, view);
  }
  if (fields.model !== undefined) {
    for (const key of ['model', 'modelName']) if (key in model) view[key] = fields.model;
  }
  // Each attempt is metered on its own: the metered call retries, the view's caller does not.
  const caller = singleAttemptCaller(model);
  if (caller) view.caller = caller;
  for (const [key, value] of Object.entries(model)) {
    if (value instanceof BaseChatModel && value !== model) view[key] = viewOf(value, fields);
  }
  // ChatOpenAI drops the pass-through max_completion_tokens of a reasoning model (o3, o4-mini,
  // gpt-5) and sends its own field there instead, even unset: the request would leave uncapped.
  // The model's own request builder is asked rather than its list of reasoning models copied.
  if (completionCap && !sendsCap(view, fields.cap!)) view[fields.capField] = fields.cap;
  return view as Model;
}

/**
 * Whether the request the view builds carries an output cap no higher than `cap`; `true` when it
 * cannot say (a model without `invocationParams`, or one that needs the call's options).
 */
function sendsCap(view: object, cap: number): boolean {
  const build = (view as { invocationParams?: unknown }).invocationParams;
  if (typeof build !== 'function') return true;
  let params: Record<string, unknown> | undefined;
  try {
    params = record((build as (options: object) => unknown).call(view, {}));
  } catch {
    return true;
  }
  if (!params) return true;
  return KWARGS_CAPS.some((key) => (positiveCap(params[key]) ?? Infinity) <= cap);
}

import { BaseChatModel } from '@langchain/core/language_models/chat_models';

// Marks a per-call view, whose methods run the model's original code unmetered (the call that
// made the view already meters them).
export const VIEW = Symbol('tokencap.langchain.view');

/** What one planned call changes on the model it runs on. */
export interface ViewFields {
  /** The field that holds the model's output cap (`maxTokens`, `maxOutputTokens`, …). */
  capField: string;
  cap: number | undefined;
  /** The model to send instead of the model's own (a `degrade` budget's fallback model). */
  model: string | undefined;
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
  if (fields.cap !== undefined) view[fields.capField] = fields.cap;
  if (fields.model !== undefined) {
    for (const key of ['model', 'modelName']) if (key in model) view[key] = fields.model;
  }
  for (const [key, value] of Object.entries(model)) {
    if (value instanceof BaseChatModel && value !== model) view[key] = viewOf(value, fields);
  }
  return view as Model;
}

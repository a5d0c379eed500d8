import type { Budget } from '../core/budget.js';
import { type BudgetFrame, currentFrame } from '../core/budget-context.js';
import type { Ledger } from '../core/ledger.js';
import { assertKnownOptions } from '../core/known-options.guard.js';
import { assertBudgets } from '../core/ledger-input.guard.js';
import { quoteClientValue, TokencapConfigError } from '../errors.js';
import { modelCatalogFor } from '../models/catalog.binding.js';
import type { ModelCatalog } from '../models/model.catalog.js';
import { validateOutputLimit } from '../models/model-facts.validator.js';
import type { MeteringContext } from './call.planner.js';

/** Options every client wrapper takes (`wrapOpenAI`, and the wrappers built like it). */
export interface MeteringOptions {
  /**
   * The ledger that charges {@link budgets} for calls made outside any budget context. Calls inside
   * a context (`runWithBudgets`, the Nest interceptor) are charged to that context's budgets only.
   */
  ledger?: Ledger;
  /**
   * Budgets charged (on {@link ledger}) for calls made outside any budget context.
   * @default [] (such calls pass through unmetered)
   */
  budgets?: readonly Budget[];
  /**
   * Output tokens reserved for a call that sets no output cap when no `hard-stop` budget limits
   * it (never more than the model's own limit; under `hard-stop` the call reserves, and is capped
   * at, what the budget has left).
   * @default 4096
   */
  defaultMaxOutputTokens?: number;
  /**
   * Output limits (tokens) of models missing from the model catalog, by name or name prefix, over
   * the catalog of the ledger that charges the call. An uncapped call is never capped above its
   * model's limit; a model with none is capped at what its budget has left.
   * @default {}
   */
  modelOutputLimits?: Readonly<Record<string, number>>;
  /**
   * What a call made with no budget open does (no budget context, and no {@link budgets} option):
   * `'allow'` sends it unmetered; `'refuse'` throws `UnmeteredCallError` (reason `no-budget`) and
   * sends nothing, so a code path that forgot its budget fails loudly instead of spending unseen.
   * @default 'allow'
   */
  outsideBudget?: OutsideBudget;
}

const METERING_OPTIONS = [
  'ledger',
  'budgets',
  'defaultMaxOutputTokens',
  'modelOutputLimits',
  'outsideBudget',
] as const satisfies readonly (keyof MeteringOptions)[];

/** See {@link MeteringOptions.outsideBudget}. */
export type OutsideBudget = 'refuse' | 'allow';

/**
 * Whether a wrapper refuses calls made with no budget open (`outsideBudget: 'refuse'`).
 * @throws TokencapConfigError naming a value that is neither `'refuse'` nor `'allow'`.
 */
export function refusesOutsideBudget(options: MeteringOptions, where: string): boolean {
  const { outsideBudget = 'allow' } = options;
  if (outsideBudget !== 'allow' && outsideBudget !== 'refuse') {
    throw new TokencapConfigError(
      `Invalid outsideBudget ${quoteClientValue(outsideBudget)} of ${where}: expected 'refuse' or 'allow'.`,
    );
  }
  return outsideBudget === 'refuse';
}

/**
 * Validates a wrapper's {@link MeteringOptions} (`where` names the wrapper in errors) and returns
 * what each call made through it is metered with: the innermost budget frame, else the options'
 * default one, with the model catalog of the frame's ledger; `undefined` when no budget is open
 * (the call passes through unmetered). `own` lists the wrapper's options beyond these, so that any
 * other key (a typo) is refused rather than silently ignored.
 * @throws TokencapConfigError naming the bad or unknown option.
 */
export function meteringContextResolver(
  options: MeteringOptions,
  where: string,
  own: readonly string[] = [],
): () => MeteringContext | undefined {
  if (options === null || typeof options !== 'object') {
    throw new TokencapConfigError(
      `Invalid options of ${where}: expected an object, got ${quoteClientValue(options)}.`,
    );
  }
  assertKnownOptions(options, [...METERING_OPTIONS, ...own], where);
  const { ledger, budgets = [], defaultMaxOutputTokens = 4096 } = options;
  assertBudgets(budgets, `${where} option budgets`);
  // Duck-typed rather than instanceof, so a Ledger from another copy of the package still works.
  if (ledger !== undefined && typeof (ledger as Partial<Ledger> | null)?.reserve !== 'function') {
    throw new TokencapConfigError(
      `Invalid ledger option of ${where}: expected a Ledger (new Ledger() or BudgetService.ledger).`,
    );
  }
  if (budgets.length > 0 && !ledger) {
    throw new TokencapConfigError(
      `The budgets option of ${where} needs a ledger option to charge them.`,
    );
  }
  if (!Number.isSafeInteger(defaultMaxOutputTokens) || defaultMaxOutputTokens < 1) {
    throw new TokencapConfigError(
      `Invalid defaultMaxOutputTokens ${JSON.stringify(defaultMaxOutputTokens)} of ${where}: expected a positive whole number.`,
    );
  }
  const outputLimits = options.modelOutputLimits ?? {};
  for (const [model, limit] of Object.entries(outputLimits)) {
    validateOutputLimit(limit, `modelOutputLimits[${quoteClientValue(model)}] of ${where}`);
  }
  const extend = Object.keys(outputLimits).length > 0;
  // The limits extend whichever catalog the charging ledger has; built once per catalog.
  const extended = new WeakMap<ModelCatalog, ModelCatalog>();
  const catalogOf = (charging: Ledger) => {
    const base = modelCatalogFor(charging);
    if (!extend) return base;
    let catalog = extended.get(base);
    if (!catalog) extended.set(base, (catalog = base.extend({ outputLimits })));
    return catalog;
  };
  const defaultFrame: BudgetFrame | undefined =
    ledger && budgets.length > 0 ? { ledger, budgets } : undefined;
  return () => {
    const frame = currentFrame() ?? defaultFrame;
    return frame && frame.budgets.length > 0
      ? { frame, catalog: catalogOf(frame.ledger), defaultMaxOutputTokens }
      : undefined;
  };
}

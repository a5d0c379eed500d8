import type { Budget } from '../../core/budget.js';
import { type BudgetFrame, currentFrame } from '../../core/budget-context.js';
import type { Ledger } from '../../core/ledger.js';
import { TokencapConfigError } from '../../errors.js';
import { nextPlannedInput } from './planned-input.memo.js';
import { assertKnownOptions } from '../../core/known-options.guard.js';

/** Options of {@link budgetNearlySpent}. */
export interface BudgetNearlySpentOptions {
  /**
   * Share of a `hard-stop` budget's limit (in any dimension it limits), used or reserved, at which
   * the loop stops: a number in (0, 1].
   * @default 0.9
   */
  fraction?: number;
  /** The ledger whose {@link budgets} are checked when no budget context is open. */
  ledger?: Ledger;
  /**
   * Budgets checked (on {@link ledger}) when no budget context is open.
   * @default [] (outside a context the loop is never stopped)
   */
  budgets?: readonly Budget[];
}

/**
 * A stop condition for the AI SDK's tool loops (`generateText`, `streamText`, `ToolLoopAgent`:
 * `stopWhen: budgetNearlySpent()`, alone or beside `stepCountIs(n)`). After each step it reads the
 * open budgets and ends the loop, with the answer so far, when a `hard-stop` budget has
 * {@link BudgetNearlySpentOptions.fraction} of a limit used or reserved, or has fewer tokens left
 * than the next step needs (what the last step took, or what `budgetMiddleware` last reserved for
 * the prompt, grown by as much as it grew over the step before, plus the output the last step
 * added to it, whichever is more: a next step, with a longer prompt, would be refused). The budget's own
 * refusal (`BudgetExceededError`) still stops any call that does not fit; this ends the loop a
 * step earlier, cleanly. When the budgets cannot be read (the store is down) it stops the loop.
 * @throws TokencapConfigError when `fraction` is not in (0, 1].
 * @example
 * await generateText({ model, tools, prompt, stopWhen: [stepCountIs(25), budgetNearlySpent({ fraction: 0.8 })] });
 */
export function budgetNearlySpent(
  options: BudgetNearlySpentOptions = {},
  // Only the step facts it reads (the AI SDK's `StepResult` has them), so it fits any tool set.
): (options: {
  readonly steps: readonly {
    readonly usage?: {
      readonly totalTokens?: number | undefined;
      readonly outputTokens?: number | undefined;
    };
  }[];
}) => Promise<boolean> {
  assertKnownOptions(options, ['fraction', 'ledger', 'budgets'], 'budgetNearlySpent');
  const { fraction = 0.9, ledger, budgets = [] } = options;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction <= 1)) {
    throw new TokencapConfigError(
      `Invalid fraction ${typeof fraction === 'number' ? String(fraction) : JSON.stringify(fraction)} of budgetNearlySpent: expected a number in (0, 1].`,
    );
  }
  if (budgets.length > 0 && !ledger) {
    throw new TokencapConfigError('The budgets option of budgetNearlySpent needs a ledger option.');
  }
  const defaultFrame: BudgetFrame | undefined =
    ledger && budgets.length > 0 ? { ledger, budgets } : undefined;
  return async ({ steps }) => {
    const frame = currentFrame() ?? defaultFrame;
    const checked = frame?.budgets.filter((budget) => budget.policy === 'hard-stop') ?? [];
    if (!frame || checked.length === 0) return false;
    const last = steps.at(-1)?.usage;
    // The next step costs at least what the last one did, and reserves at least the input the last
    // one reserved, grown as it grew, plus the output the last step added to the prompt.
    const planned = nextPlannedInput(frame);
    const nextStep = Math.max(
      last?.totalTokens ?? 0,
      planned === undefined ? 0 : planned + (last?.outputTokens ?? 0) + 1,
    );
    let usage;
    try {
      usage = await frame.ledger.usage(checked);
    } catch {
      return true; // Fail closed: a loop that cannot see its budget does not go on.
    }
    return usage.some((budget) =>
      Object.entries(budget.dimensions).some(([dimension, d]) => {
        if (!d || d.limit <= 0) return false;
        if (d.used + d.reserved >= fraction * d.limit) return true;
        return dimension === 'tokens' && d.remaining < nextStep;
      }),
    );
  };
}

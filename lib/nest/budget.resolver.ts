import { randomUUID } from 'node:crypto';
import { type ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { type Budget, normalizeLimit, normalizeOptions } from '../core/budget.js';
import { stampLedgerId } from '../core/ledger-id.js';
import { sameMarkers } from '../core/sibling-declarations.js';
import { BudgetKeyMissingError, TokencapConfigError } from '../errors.js';
import { BUDGET_METADATA, type BudgetMetadata } from './budget.decorator.js';
import { isSkipped } from './budget-skip.rule.js';
import type { BudgetCall } from './budget-request.context.js';
import {
  BUILT_IN_SCOPES,
  type ResolvedTokencapOptions,
  TOKENCAP_OPTIONS,
} from './tokencap-options.validator.js';

/** A `@Budget` declaration validated against the module's options: a budget waiting for its key. */
export interface BudgetTemplate {
  readonly scope: string;
  /** The budget with a placeholder key; {@link BudgetResolver.resolve} stamps the real one. */
  readonly prototype: Budget;
}

/** A value or a promise of it: keys resolve synchronously unless a scope resolver is async. */
export type MaybePromise<T> = T | Promise<T>;

/** Whether `value` is a thenable. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

/**
 * Turns `@Budget` declarations into budgets for one call: validates them against the module's
 * options (at bootstrap) and resolves each scope's key (per call). One per app.
 */
@Injectable()
export class BudgetResolver {
  // Keyed by the (frozen) metadata array itself, so each declaration is compiled once per app.
  private readonly compiled = new WeakMap<readonly BudgetMetadata[], readonly BudgetTemplate[]>();
  // Every declaration compiled so far (all of the app's, after bootstrap), by scope, for the
  // operations on budgets that are not open (BudgetService.usageOf, reset, credit).
  private readonly declared = new Map<string, BudgetTemplate[]>();
  // The declarations of each ledger shape (scope and window), for siblingsOf; rebuilt after a compile.
  // By scope, then window tag ('' for none): no string is built per call.
  private byLedger: Map<string, Map<string, Budget[]>> | undefined;

  constructor(
    @Inject(TOKENCAP_OPTIONS) private readonly options: ResolvedTokencapOptions,
    private readonly reflector: Reflector,
  ) {}

  /** Every scope a `@Budget` may name: the built-in ones, then the configured ones. */
  get knownScopes(): string[] {
    return [...BUILT_IN_SCOPES, ...this.options.scopes.keys()];
  }

  /**
   * Validates declarations with the module's defaults applied.
   * @param where names the method in error messages, e.g. `ChatController.ask`.
   * @throws TokencapConfigError naming the method (unknown scope, invalid option).
   */
  compile(metadata: readonly BudgetMetadata[], where: string): readonly BudgetTemplate[] {
    const cached = this.compiled.get(metadata);
    if (cached) return cached;
    const templates = Object.freeze(metadata.map((m) => this.compileOne(m, where)));
    this.compiled.set(metadata, templates);
    for (const t of templates) {
      let list = this.declared.get(t.scope);
      if (list === undefined) this.declared.set(t.scope, (list = []));
      list.push(t);
    }
    this.byLedger = undefined;
    return templates;
  }

  /**
   * The app's `@Budget` declarations of `budget`'s scope and window, with its key: the other
   * declarations of its ledger, whose thresholds usage charged through it fires too. Undefined
   * when the only one is the budget's own declaration (the common case, without allocating).
   */
  siblingsOf(budget: Budget): readonly Budget[] | undefined {
    const group = (this.byLedger ??= this.groupByLedger())
      .get(budget.scope)
      ?.get(budget.window?.tag ?? '');
    if (group === undefined || (group.length === 1 && sameMarkers(group[0], budget))) {
      return undefined;
    }
    const out: Budget[] = [];
    for (const p of group) {
      if (sameMarkers(p, budget)) continue;
      out.push(
        Object.freeze(stampLedgerId({ ...p, id: `${p.scope}:${budget.key}`, key: budget.key })),
      );
    }
    return out;
  }

  private groupByLedger(): Map<string, Map<string, Budget[]>> {
    const groups = new Map<string, Map<string, Budget[]>>();
    for (const [scope, templates] of this.declared) {
      const byWindow = new Map<string, Budget[]>();
      groups.set(scope, byWindow);
      for (const { prototype } of templates) {
        const tag = prototype.window?.tag ?? '';
        const group = byWindow.get(tag);
        // Declarations with the same limits and thresholds (one on each of two routes) fire the
        // same markers: one stands for them all.
        if (group === undefined) byWindow.set(tag, [prototype]);
        else if (!group.some((p) => sameMarkers(p, prototype))) group.push(prototype);
      }
    }
    return groups;
  }

  /** The app's `@Budget` declarations of `scope`, in the order they were validated. */
  declarations(scope: string): readonly BudgetTemplate[] {
    return this.declared.get(scope) ?? [];
  }

  /**
   * The validated `@Budget`s of the handler `context` runs (its own, else its class's); none when
   * `@SkipBudget()` or the `skipIf` option skips it.
   */
  forHandler(context: ExecutionContext): readonly BudgetTemplate[] {
    if (isSkipped(context, this.reflector, this.options.skipIf)) return [];
    const metadata = this.reflector.getAllAndOverride<BudgetMetadata[] | undefined>(
      BUDGET_METADATA,
      [context.getHandler(), context.getClass()],
    );
    if (!metadata?.length) return [];
    return this.compile(metadata, `${context.getClass().name}.${context.getHandler().name}`);
  }

  /**
   * The budgets of one call, in declaration order. Synchronous unless a scope resolver returns a
   * promise. A scope without a key throws `BudgetKeyMissingError` (or is left out when
   * `onMissingKey` is `skip`); a resolver that throws or returns something other than a string or
   * a number throws `BudgetKeyMissingError` whatever `onMissingKey` says (fail closed).
   */
  resolve(templates: readonly BudgetTemplate[], call: BudgetCall): MaybePromise<Budget[]> {
    const keys = templates.map((t) => this.keyOf(t.scope, call));
    if (keys.some(isPromiseLike)) return Promise.all(keys).then((k) => this.build(templates, k));
    return this.build(templates, keys as (string | undefined)[]);
  }

  private compileOne(m: BudgetMetadata, method: string): BudgetTemplate {
    const where = `@Budget('${m.scope}') on ${method}`;
    const known = this.knownScopes;
    if (!known.includes(m.scope)) {
      throw new TokencapConfigError(
        `${where} names an unknown scope "${m.scope}"; known scopes: ${known.join(', ')}. ` +
          `Add a resolver for it in TokencapModule.forRoot({ scopes: { ${m.scope}: (request) => key } }).`,
      );
    }
    const o = m.options;
    // Ephemeral budgets get a ttl so the store drops them once their request or task is over.
    const ephemeral = m.scope === 'request' || m.scope === 'task';
    const normalized = normalizeOptions(
      {
        ...o,
        policy: o.policy ?? this.options.policy,
        thresholds: o.thresholds ?? this.options.thresholds,
        ttl: o.ttl ?? (ephemeral ? this.options.reservationTtlMs : undefined),
      },
      where,
    );
    const limits = normalizeLimit(m.limit, where);
    const prototype: Budget = Object.freeze({
      id: `${m.scope}:`,
      scope: m.scope,
      key: '',
      limits,
      ...normalized,
    });
    return Object.freeze({ scope: m.scope, prototype });
  }

  private keyOf(scope: string, call: BudgetCall): MaybePromise<string | undefined> {
    if (scope === 'request') return call.id;
    if (scope === 'task') return randomUUID();
    if (scope === 'global') return 'global';
    if (call.keys.has(scope)) return call.keys.get(scope);
    const resolver = this.options.scopes.get(scope);
    if (!resolver) throw new TokencapConfigError(`No resolver for scope "${scope}".`);
    let raw: unknown;
    try {
      raw = resolver(call.request, call.context);
    } catch (error) {
      throw new BudgetKeyMissingError(scope, 'failed', { cause: error });
    }
    const key = isPromiseLike(raw)
      ? Promise.resolve(raw).then(
          (value) => {
            const resolved = toKey(scope, value);
            call.keys.set(scope, resolved);
            return resolved;
          },
          (error: unknown) => {
            throw new BudgetKeyMissingError(scope, 'failed', { cause: error });
          },
        )
      : toKey(scope, raw);
    call.keys.set(scope, key);
    return key;
  }

  private build(
    templates: readonly BudgetTemplate[],
    keys: readonly (string | undefined)[],
  ): Budget[] {
    const budgets: Budget[] = [];
    templates.forEach((template, i) => {
      const key = keys[i];
      if (key === undefined) {
        if (this.options.onMissingKey === 'skip') return;
        throw new BudgetKeyMissingError(template.scope);
      }
      const budget = { ...template.prototype, id: `${template.scope}:${key}`, key };
      budgets.push(Object.freeze(stampLedgerId(budget)));
    });
    return budgets;
  }
}

// The key's value is never put in the error: it may be anything a client sent.
function toKey(scope: string, value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  throw new BudgetKeyMissingError(scope, 'invalid');
}

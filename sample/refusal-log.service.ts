import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { filter, type Subscription } from 'rxjs';
import { BudgetService, type RefusedEvent } from '../lib/index.js';

/**
 * The last refusal of each budget (scope and key), kept so a reloaded page can say why its meter
 * stands where it does ("refused at 04:31: the call needed 1,204 tokens, 610 remained").
 */
@Injectable()
export class RefusalLog implements OnModuleDestroy {
  private readonly last = new Map<string, RefusedEvent>();
  private readonly subscription: Subscription;

  constructor(budgets: BudgetService) {
    this.subscription = budgets.events$
      .pipe(filter((event): event is RefusedEvent => event.type === 'refused'))
      .subscribe((event) => this.last.set(`${event.scope}:${event.key}`, event));
  }

  /** The last refusal of `scope`'s budget for `key` since the app started, or null. */
  lastOf(scope: string, key: string): RefusedEvent | null {
    return this.last.get(`${scope}:${key}`) ?? null;
  }

  onModuleDestroy(): void {
    this.subscription.unsubscribe();
  }
}

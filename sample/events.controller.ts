import { Controller, Query, Sse, type MessageEvent } from '@nestjs/common';
import { filter, map, merge, type Observable } from 'rxjs';
import { BudgetService } from '../lib/index.js';
import { ResearchAgent } from './research.agent.js';
import { DEMO_USER } from './sample.config.js';

/**
 * Server-sent events for one page: the budget events of its session and of its user, and each
 * step of the research runs its session starts (so the page draws the agent turn by turn).
 */
@Controller('api')
export class EventsController {
  constructor(
    private readonly budgets: BudgetService,
    private readonly agent: ResearchAgent,
  ) {}

  @Sse('events')
  events(
    @Query('session') session: string,
    @Query('user') user: string | undefined,
  ): Observable<MessageEvent> {
    const userKey = user || DEMO_USER;
    const budgetEvents = this.budgets.events$.pipe(
      filter(
        (event) =>
          'key' in event &&
          ((event.scope === 'session' && event.key === session) ||
            (event.scope === 'user' && event.key === userKey)),
      ),
    );
    const steps = this.agent.steps$.pipe(filter((step) => step.session === session));
    return merge(budgetEvents, steps).pipe(map((event) => ({ data: event })));
  }
}

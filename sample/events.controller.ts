import { Controller, Query, Sse, type MessageEvent } from '@nestjs/common';
import { filter, map, type Observable } from 'rxjs';
import { BudgetService } from '../lib/index.js';

/** Server-sent budget events of one session, for the page's meter and warnings. */
@Controller('api')
export class EventsController {
  constructor(private readonly budgets: BudgetService) {}

  @Sse('events')
  events(@Query('session') session: string): Observable<MessageEvent> {
    return this.budgets.events$.pipe(
      filter((event) => 'key' in event && event.scope === 'session' && event.key === session),
      map((event) => ({ data: event })),
    );
  }
}

import { randomUUID } from 'node:crypto';
import type { Subscription } from 'rxjs';
import type { TokencapEvent } from '../core/events.js';
import type { Ledger } from '../core/ledger.js';
import { assertKnownOptions } from '../core/known-options.guard.js';
import { isRelayed } from '../core/relayed-event.js';
import { assertWarnLogger, warnSafely } from '../core/warn-logger.js';
import { TokencapConfigError } from '../errors.js';
import type { RedisClient } from './script.runner.js';

// The members of RedisClient's union have differently typed overloads; these two calls are the
// same on all of them.
type Duplicable = { duplicate(): RedisClient };
type Listener = { on(event: 'message', fn: (channel: string, message: string) => void): unknown };

/** Event types a relay can carry (a `store-error` concerns one replica and is never relayed). */
export type RelayedEventType = Exclude<TokencapEvent['type'], 'store-error'>;

/** Options of {@link RedisEventRelay}. */
export interface RedisEventRelayOptions {
  /** Publishes this replica's events; the store's client will do. Never closed by the relay. */
  publisher: RedisClient;
  /**
   * A connection dedicated to subscribing (a subscribed connection can run no other command).
   * Yours, never closed by the relay.
   * @default publisher.duplicate(), which the relay closes in close()
   */
  subscriber?: RedisClient;
  /** @default 'tokencap:events' */
  channel?: string;
  /**
   * What is relayed. Thresholds, exhaustion and forecasts fire once across all replicas, on the
   * replica whose commit crossed them, so relaying them is what lets every replica see them.
   * `usage`, `refused` and `degraded` fire on every replica for its own calls; relay them only if
   * each replica needs every other's (one message per event: `usage` is one per budget per call).
   * `reset` and `credit` fire on the replica an operator used.
   * @default ['threshold', 'exhausted', 'forecast']
   */
  types?: readonly RelayedEventType[];
  /** Receives one warning when publishing starts failing. @default console */
  logger?: {
    /** Called with one line per warning. */
    warn(message: string): void;
  };
}

const RELAY_OPTIONS = [
  'publisher',
  'subscriber',
  'channel',
  'types',
  'logger',
] as const satisfies readonly (keyof RedisEventRelayOptions)[];

interface Envelope {
  v: 1;
  origin: string;
  event: TokencapEvent;
}

const ALL_TYPES: readonly RelayedEventType[] = [
  'threshold',
  'exhausted',
  'forecast',
  'refused',
  'usage',
  'degraded',
  'reset',
  'credit',
];

/**
 * Relays a Ledger's events between replicas through Redis pub/sub: events of this replica are
 * published with its origin id, and events other replicas published are re-emitted on this
 * Ledger's `events$`. A replica never receives its own events back, so each event appears once
 * on every replica's `events$`.
 *
 * @example
 * const relay = new RedisEventRelay({ publisher: redis }); // subscribes on redis.duplicate()
 * await relay.attach(ledger);
 * // on shutdown: await relay.close();
 */
export class RedisEventRelay {
  /** Identifies this replica's messages. */
  readonly origin: string = randomUUID();
  readonly channel: string;
  private readonly publisher: RedisClient;
  /** Yours, or made by `attach` (a connection made in the constructor would keep an unused relay's process alive). */
  private subscriber: RedisClient | undefined;
  private readonly ownsSubscriber: boolean;
  private readonly types: ReadonlySet<string>;
  private readonly logger: { warn(message: string): void };
  private ledger: Ledger | undefined;
  private subscription: Subscription | undefined;
  private failing = false;
  private closed = false;

  constructor(options: RedisEventRelayOptions) {
    if (!options || typeof options.publisher?.publish !== 'function') {
      throw new TokencapConfigError(
        'RedisEventRelay needs a `publisher`: an ioredis Redis or Cluster client.',
      );
    }
    // A misspelt `channel` would leave two apps on the default channel, each taking the other's
    // events for its own.
    assertKnownOptions(options, RELAY_OPTIONS, 'RedisEventRelay');
    const types = options.types ?? ['threshold', 'exhausted', 'forecast'];
    for (const type of types) {
      if (!ALL_TYPES.includes(type)) {
        throw new TokencapConfigError(
          `Invalid event type ${JSON.stringify(type)} in types of RedisEventRelay: expected any of ${ALL_TYPES.join(', ')}.`,
        );
      }
    }
    const channel = options.channel ?? 'tokencap:events';
    if (typeof channel !== 'string' || channel.length === 0) {
      throw new TokencapConfigError(
        `Invalid channel ${JSON.stringify(channel)} of RedisEventRelay: expected a non-empty string.`,
      );
    }
    if (options.subscriber && options.subscriber === options.publisher) {
      throw new TokencapConfigError(
        'The subscriber of RedisEventRelay must be its own connection (a subscribed connection runs no other command): use publisher.duplicate().',
      );
    }
    assertWarnLogger(options.logger, 'logger option of RedisEventRelay');
    this.publisher = options.publisher;
    this.subscriber = options.subscriber;
    this.ownsSubscriber = options.subscriber === undefined;
    this.channel = channel;
    this.types = new Set(types);
    this.logger = options.logger ?? console;
  }

  /**
   * Starts relaying for `ledger` (one per relay). Local events are published from now on; the
   * promise resolves once the subscription is in place (it waits for Redis if Redis is down, so
   * don't make start-up depend on it).
   */
  attach(ledger: Ledger): Promise<void> {
    if (this.ledger)
      throw new TokencapConfigError(
        'A RedisEventRelay relays for one Ledger: create one relay per Ledger.',
      );
    if (this.closed) throw new TokencapConfigError('This RedisEventRelay is closed.');
    this.ledger = ledger;
    const subscriber = (this.subscriber ??= (this.publisher as Duplicable).duplicate());
    (subscriber as Listener).on('message', this.onMessage);
    this.subscription = ledger.events$.subscribe({ next: (event) => this.send(event) });
    return subscriber.subscribe(this.channel).then(() => undefined);
  }

  /** Stops relaying; closes the subscriber connection if the relay created it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscription?.unsubscribe();
    const subscriber = this.subscriber;
    if (subscriber === undefined) return;
    subscriber.off('message', this.onMessage);
    if (this.ownsSubscriber) {
      try {
        await subscriber.quit();
      } catch {
        subscriber.disconnect();
      }
    } else if (this.ledger) {
      await subscriber.unsubscribe(this.channel).catch(() => undefined);
    }
  }

  private send(event: TokencapEvent): void {
    // A relayed event went to every replica already: sent again, it would loop.
    if (this.closed || isRelayed(event) || !this.types.has(event.type)) return;
    // While the publisher is not connected, events are dropped rather than queued without bound.
    if (this.publisher.status !== 'ready')
      return this.failed(`connection ${this.publisher.status}`);
    const envelope: Envelope = { v: 1, origin: this.origin, event };
    this.publisher.publish(this.channel, JSON.stringify(envelope)).then(
      () => {
        this.failing = false;
      },
      (error: unknown) => this.failed(error instanceof Error ? error.message : String(error)),
    );
  }

  private failed(message: string): void {
    if (this.failing) return;
    this.failing = true;
    warnSafely(
      this.logger,
      `Tokencap: events are not being relayed to other replicas (${message}) until Redis is back.`,
    );
  }

  private readonly onMessage = (channel: string, message: string): void => {
    if (channel !== this.channel || this.closed || !this.ledger) return;
    const event = this.parse(message);
    if (!event) return;
    this.ledger.publish({ ...event, relayed: true });
  };

  /** The event in a message from another replica; undefined for our own, foreign or malformed messages. */
  private parse(message: string): RelayedEvent | undefined {
    let envelope: Partial<Envelope>;
    try {
      envelope = JSON.parse(message) as Partial<Envelope>;
    } catch {
      return undefined;
    }
    if (
      !envelope ||
      envelope.v !== 1 ||
      typeof envelope.origin !== 'string' ||
      envelope.origin === this.origin
    ) {
      return undefined;
    }
    const event = envelope.event as Partial<TokencapEvent> | undefined;
    if (
      !event ||
      typeof event !== 'object' ||
      typeof event.type !== 'string' ||
      !this.types.has(event.type)
    ) {
      return undefined;
    }
    const fields = event as { scope?: unknown; key?: unknown; at?: unknown };
    if (
      typeof fields.scope !== 'string' ||
      typeof fields.key !== 'string' ||
      typeof fields.at !== 'number'
    ) {
      return undefined;
    }
    return event as RelayedEvent;
  }
}

/** An event a relay carries: every type but `store-error`. */
type RelayedEvent = Exclude<TokencapEvent, { type: 'store-error' }>;

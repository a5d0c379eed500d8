import type { Cluster, Redis } from 'ioredis';
import type { LuaScript } from './lua.script.js';
import { RedisStoreError } from './redis-store.error.js';

/**
 * The ioredis clients the store and relay accept: a single node (or Sentinel) connection, or a
 * Cluster, with either reply mapping (the scripts reply with arrays, which both map the same way).
 */
export type RedisClient = Redis | Redis<'resp3'> | Cluster | Cluster<'resp3'>;

const OFFSET_REBASE_MS = 10_000;

// A monotonic wall clock: offsets to Redis time must not jump when this host's clock is stepped.
const monotonicNow = () => performance.timeOrigin + performance.now();

/**
 * Runs the store's scripts: `EVALSHA`, falling back to `EVAL` (which also caches the script) when
 * the server answers `NOSCRIPT` (a restarted server, `SCRIPT FLUSH`, a Cluster node not seen yet).
 *
 * Every call is bounded by `timeoutMs`, enforced here with a timer because the client belongs to
 * the user (its own `commandTimeout` may be unset, and ioredis queues commands while reconnecting).
 * While the client is reconnecting or closed, calls fail at once instead of joining that queue.
 *
 * A command the runner gave up on may still reach Redis later (ioredis resends queued and
 * unanswered commands on reconnect). To keep such a late command from reserving or charging
 * twice, each call carries a deadline in Redis time (derived from the server time every reply
 * carries), and a script past it changes nothing.
 */
export class ScriptRunner {
  private offset: number | undefined;
  private offsetAt = 0;

  constructor(
    private readonly client: RedisClient,
    readonly timeoutMs: number,
  ) {}

  /**
   * Runs `script` and returns its reply past the status and server time (`[status, ...rest]`).
   * @param guard whether the script honours the deadline (the writing scripts do).
   */
  async run(
    script: LuaScript,
    keys: readonly string[],
    args: readonly string[],
    guard = true,
  ): Promise<unknown[]> {
    const status = this.client.status;
    if (status === 'reconnecting' || status === 'close' || status === 'end') {
      throw new RedisStoreError(
        'unavailable',
        `Redis is unreachable (connection ${status}); ${script.name} was not sent.`,
      );
    }
    const started = monotonicNow();
    return withTimeout(
      (async () => {
        let reply = await this.attempt(script, keys, args, guard);
        if (reply[0] === 'late' && monotonicNow() - started < this.timeoutMs) {
          // The script judged itself late while this call was still waiting: the Redis clock moved
          // against ours. The offset has just been re-measured, so one retry is safe.
          reply = await this.attempt(script, keys, args, guard);
        }
        if (reply[0] === 'late') {
          throw new RedisStoreError(
            'timeout',
            `Redis ran ${script.name} after its deadline, so it changed nothing.`,
            { mayHaveApplied: false },
          );
        }
        return reply;
      })(),
      this.timeoutMs,
      script.name,
    );
  }

  private async attempt(
    script: LuaScript,
    keys: readonly string[],
    args: readonly string[],
    guard: boolean,
  ): Promise<unknown[]> {
    const sent = monotonicNow();
    const deadline =
      guard && this.offset !== undefined ? Math.ceil(sent + this.offset + this.timeoutMs) : 0;
    const argv = [String(deadline), ...args];
    let reply: unknown;
    try {
      reply = await this.client.evalsha(script.sha, keys.length, ...keys, ...argv);
    } catch (error) {
      if (!isNoScript(error)) throw wrap(error, script);
      try {
        reply = await this.client.eval(script.source, keys.length, ...keys, ...argv);
      } catch (retryError) {
        throw wrap(retryError, script);
      }
    }
    if (!Array.isArray(reply) || typeof reply[0] !== 'string' || typeof reply[1] !== 'string') {
      throw malformed(script, reply);
    }
    const serverNow = Number(reply[1]);
    if (reply[1] === '' || !Number.isFinite(serverNow)) throw malformed(script, reply);
    // serverNow - sent over-estimates the clock offset by at most this call's latency, which only
    // ever makes deadlines later: an in-time command is never judged late. The smallest recent
    // sample is the closest; re-basing every 10 s follows clock drift.
    const sample = serverNow - sent;
    if (
      this.offset === undefined ||
      sample < this.offset ||
      sent - this.offsetAt > OFFSET_REBASE_MS
    ) {
      this.offset = sample;
      this.offsetAt = sent;
    }
    return reply;
  }
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function wrap(error: unknown, script: LuaScript): RedisStoreError {
  if (error instanceof RedisStoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (message.startsWith('CROSSSLOT')) {
    return new RedisStoreError(
      'cross-slot',
      `Redis Cluster refused ${script.name}: the call's budgets hash to different slots. Use ` +
        `RedisLedgerStore's hashTag: 'single-slot' so every call's budgets are reserved atomically on one slot.`,
      { cause: error },
    );
  }
  // An error reply (ReplyError: OOM, BUSY, LOADING, a script error before any write) means the
  // script did not run; a connection lost while waiting leaves it open.
  const replied = error instanceof Error && error.name === 'ReplyError';
  return new RedisStoreError('redis', `Redis ${script.name} failed: ${message}`, {
    cause: error,
    mayHaveApplied: !replied,
  });
}

/** The error for a reply that does not have the shape the script returns. */
export function malformed(script: LuaScript, reply: unknown): RedisStoreError {
  let shown: string;
  try {
    shown = JSON.stringify(reply) ?? String(reply);
  } catch {
    shown = String(reply);
  }
  if (shown.length > 200) shown = `${shown.slice(0, 200)}…`;
  return new RedisStoreError(
    'malformed-reply',
    `Malformed reply from Redis ${script.name} script: ${shown}.`,
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new RedisStoreError('timeout', `Redis did not answer ${what} within ${ms} ms.`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

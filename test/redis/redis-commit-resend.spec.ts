import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineBudget } from '../../lib/core/budget.js';
import type { LedgerStore } from '../../lib/core/ledger-store.interface.js';
import { MemoryLedgerStore } from '../../lib/core/memory-ledger.store.js';
import { RedisLedgerStore } from '../../lib/redis/index.js';
import { RedisServerProcess, freePort, redisServerBinaryAvailable } from './support/redis-env.js';

// ioredis resends a command whose reply a connection blip lost (autoResendUnfulfilledCommands, on
// by default). A commit script it resends ran already: a committed reservation id is remembered
// (a tombstone until the reservation would have lapsed), so the second run records nothing.

const binary = await redisServerBinaryAvailable();

/**
 * A TCP proxy to Redis that, once armed with a needle, forwards the first command containing it
 * and then cuts the connection instead of forwarding Redis's reply.
 */
class ReplyDroppingProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private needle: string | undefined;
  private dropNextReply = false;
  /** Commands seen containing the needle since it was armed. */
  seen = 0;
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((client) => {
      const upstream = tcpConnect(this.target, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      const cut = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', cut).on('close', cut);
      upstream.on('error', cut).on('close', cut);
      client.on('data', (chunk: Buffer) => {
        if (this.needle !== undefined && chunk.includes(this.needle)) {
          this.seen += 1;
          if (this.seen === 1) this.dropNextReply = true;
        }
        upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (this.dropNextReply) {
          this.dropNextReply = false;
          cut();
          return;
        }
        client.write(chunk);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  arm(needle: string): void {
    this.needle = needle;
    this.seen = 0;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

// Keyed apart from the reservation id, so only the reservation's own commands contain the id.
const budget = (id: string) =>
  defineBudget({
    scope: 'session',
    key: `b-${id.length}-${id.split('').reverse().join('')}`,
    limit: 100,
  });

async function reserveThenCommitTwice(
  store: LedgerStore,
  id: string,
  commit: () => Promise<unknown>,
): Promise<number> {
  const b = budget(id);
  const now = Date.now();
  const reserved = await store.reserve({
    reservationId: id,
    budgets: [b],
    base: { tokens: 90 },
    now,
    expiresAt: now + 60_000,
  });
  expect(reserved.ok).toBe(true);
  await commit();
  const [snapshot] = await store.snapshot([b], Date.now());
  return snapshot.used.tokens ?? 0;
}

describe('a commit of a reservation id runs at most once', () => {
  it('memory store: the same commit twice (ifUnknown charge) records once', async () => {
    const store = new MemoryLedgerStore({ sweepInterval: false });
    const input = (now: number) => ({
      reservationId: 'm1',
      budgets: [budget('m1')],
      actual: { tokens: 90 },
      now,
      ifUnknown: 'charge' as const,
    });
    const used = await reserveThenCommitTwice(store, 'm1', async () => {
      store.commit(input(Date.now()));
      store.commit(input(Date.now()));
    });
    expect(used).toBe(90);
    await store.close();
  });
});

describe.skipIf(!binary)('a commit resent by ioredis after its reply was lost', () => {
  let server: RedisServerProcess | undefined;
  let proxy: ReplyDroppingProxy | undefined;
  let client: Redis | undefined;
  afterEach(async () => {
    client?.disconnect();
    await proxy?.close();
    await server?.kill();
  });

  it('records the usage once, and the reservation is gone', async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    proxy = new ReplyDroppingProxy(server.port);
    await proxy.start();
    client = new Redis({ host: '127.0.0.1', port: proxy.port, retryStrategy: () => 20 });
    client.on('error', () => undefined);
    await vi.waitFor(() => expect(client!.status).toBe('ready'));
    const store = new RedisLedgerStore({ client, commandTimeout: 10_000 });

    // Load the commit script first, so the command cut below is one Redis runs (not a NOSCRIPT).
    await store.commit({
      reservationId: 'warm-up',
      budgets: [budget('warm-up')],
      actual: { tokens: 1 },
      now: Date.now(),
    });
    const id = `resend-${Date.now()}`;
    const used = await reserveThenCommitTwice(store, id, async () => {
      proxy!.arm(id);
      const outcome = await store.commit({
        reservationId: id,
        budgets: [budget(id)],
        actual: { tokens: 90 },
        now: Date.now(),
      });
      expect(outcome.snapshots[0].reserved.tokens ?? 0).toBe(0);
      // The proxy saw the commit twice: the first ran and its reply was dropped, ioredis resent it.
      expect(proxy!.seen).toBe(2);
    });
    expect(used).toBe(90);
  });
});

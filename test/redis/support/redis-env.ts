import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

/** The Redis the tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Whether Redis answers. Off CI an unreachable Redis skips the suites with a printed reason;
 * under CI=true it fails them, so a broken CI Redis cannot pass silently.
 */
export async function redisAvailable(suite: string): Promise<boolean> {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    retryStrategy: () => null,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch (error) {
    const reason = `Redis at ${REDIS_URL} is unreachable (${(error as Error).message})`;
    if (process.env.CI === 'true') {
      throw new Error(`${reason}; CI=true requires it for ${suite}.`, { cause: error });
    }
    console.warn(`Skipping ${suite}: ${reason}. Set REDIS_URL or start redis-server to run it.`);
    return false;
  } finally {
    probe.disconnect();
  }
}

/** A key prefix unique to this test run, so runs sharing one Redis never see each other's keys. */
export function uniquePrefix(name: string): string {
  return `tokencap-test:${name}:${randomUUID().slice(0, 8)}:`;
}

/**
 * A suite's connection to the tests' Redis and its own key prefix, for use inside a `describe`:
 * its keys are deleted and the client closed after the suite. The client connects on its first
 * command, so a suite skipped for want of Redis opens nothing.
 */
export function redisSuite(name: string): { readonly prefix: string; readonly client: Redis } {
  const prefix = uniquePrefix(name);
  const client = new Redis(REDIS_URL, { lazyConnect: true });
  afterAll(async () => {
    await deleteByPrefix(client, prefix);
    await client.quit();
  });
  return { prefix, client };
}

/** Deletes every key under `prefix`. */
export async function deleteByPrefix(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await client.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Every key under `prefix`. */
export async function keysByPrefix(client: Redis, prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}

/**
 * The arguments of a redis-server the tests or benches start for themselves: on loopback at `port`,
 * no RDB snapshots, and (unless `persistence` says otherwise) no append-only file.
 */
export function serverArgs(port: number, persistence = ['--appendonly', 'no']): string[] {
  return ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence];
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/**
 * A throwaway redis-server on `port`, for tests that kill and restart Redis. Without `dataDir` it
 * keeps nothing on disk (a restart starts empty); with it, it keeps an append-only file there
 * (`appendonly yes`, `appendfsync always`: what it acknowledged survives its own crash; with
 * `everysec` a busy disk may postpone the write past the reply).
 */
export class RedisServerProcess {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    readonly binary = process.env.REDIS_SERVER_BIN ?? 'redis-server',
    readonly dataDir?: string,
  ) {}

  /** Starts the server and resolves once it answers PING (and has loaded its data). */
  async start(): Promise<void> {
    const persistence = this.dataDir
      ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dataDir]
      : undefined;
    this.child = spawn(this.binary, serverArgs(this.port, persistence), {
      stdio: 'ignore',
    });
    const child = this.child;
    const failed = new Promise<never>((_, reject) => child.once('error', reject));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({
        port: this.port,
        host: '127.0.0.1',
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      });
      probe.on('error', () => undefined);
      try {
        await Promise.race([probe.connect().then(() => probe.ping()), failed]);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        probe.disconnect();
      }
    }
  }

  /** Freezes the server (SIGSTOP): connections stay open but nothing is answered, as on a hung host. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  /** Thaws a paused server; it then runs every command that reached it meanwhile. */
  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Kills the server at once (SIGKILL: a crash, not a shutdown) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  }
}

/** Whether a redis-server binary can be started (the outage test needs its own server). */
export async function redisServerBinaryAvailable(
  binary = process.env.REDIS_SERVER_BIN ?? 'redis-server',
): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(binary, ['--version'], { stdio: 'ignore' });
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
}

/**
 * A throwaway Redis Cluster of `size` masters on local ports (redis-server --cluster-enabled,
 * joined with redis-cli --cluster create), for the Cluster hash-tag tests.
 */
export class RedisClusterProcesses {
  private readonly children: ChildProcess[] = [];
  private dir = '';
  readonly ports: number[] = [];

  constructor(
    readonly size = 3,
    readonly binary = process.env.REDIS_SERVER_BIN ?? 'redis-server',
    readonly cli = process.env.REDIS_CLI_BIN ?? 'redis-cli',
  ) {}

  async start(): Promise<void> {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    this.dir = await mkdtemp(join(tmpdir(), 'tokencap-cluster-'));
    while (this.ports.length < this.size) {
      const port = await freePort();
      // The cluster bus listens on port + 10000; keep both in range and distinct.
      if (port > 55_000 || this.ports.includes(port)) continue;
      this.ports.push(port);
    }
    for (const port of this.ports) {
      const args = [...serverArgs(port), '--dir', this.dir];
      args.push(
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '2000',
      );
      this.children.push(spawn(this.binary, args, { stdio: 'ignore' }));
    }
    for (const port of this.ports) await new RedisServerProbe(port).waitForPing();
    const nodes = this.ports.map((p) => `127.0.0.1:${p}`);
    await run(this.cli, [
      '--cluster',
      'create',
      ...nodes,
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ]);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const probe = new Redis({ port: this.ports[0], host: '127.0.0.1', maxRetriesPerRequest: 0 });
      probe.on('error', () => undefined);
      try {
        const info = (await probe.call('CLUSTER', 'INFO')) as string;
        if (info.includes('cluster_state:ok')) return;
      } finally {
        probe.disconnect();
      }
      if (Date.now() > deadline) throw new Error('the test cluster did not reach cluster_state:ok');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    if (this.dir) {
      const { rm } = await import('node:fs/promises');
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}

class RedisServerProbe {
  constructor(readonly port: number) {}

  async waitForPing(): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const probe = new Redis({
        port: this.port,
        host: '127.0.0.1',
        lazyConnect: true,
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
      });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        probe.disconnect();
      }
    }
  }
}

function run(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}: ${stderr}`)),
    );
  });
}

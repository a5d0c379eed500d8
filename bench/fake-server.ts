// The fake OpenAI server in a process of its own: in the benchmark's process it would share the
// event loop, and its own prompt counting (Tokencap's countChatTokens) would fill the count cache
// the wrapped client reads, flattering the wrapped side.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAI } from '../lib/testing/index.js';

export interface FakeServerProcess {
  baseURL: string;
  close(): Promise<void>;
}

/** Starts the fake server in a child process and resolves with its base URL. */
export function spawnFakeServer(): Promise<FakeServerProcess> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--serve'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`fake server exited with ${code}`)));
    child.once('message', (message) => {
      const { baseURL } = message as { baseURL: string };
      resolve({
        baseURL,
        close: () =>
          new Promise<void>((done) => {
            child.removeAllListeners('exit');
            child.once('exit', () => done());
            child.kill();
          }),
      });
    });
  });
}

if (process.argv.includes('--serve') && process.send) {
  const server = await startFakeOpenAI({
    recordRequests: false,
    promptCaching: false,
    replyTokens: 20,
  });
  process.send({ baseURL: server.baseURL });
  process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
}

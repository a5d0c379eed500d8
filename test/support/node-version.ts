import { describe } from 'vitest';

/** The major version of the Node.js running the tests. */
export const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/**
 * `describe`, run only on Node.js `major` or later. Some integrations' packages (the AI SDK,
 * LangChain's OpenAI package, the OpenTelemetry SDK) declare Node >= 22: on an older Node their
 * suites skip with a printed reason instead of failing, and CI runs them on Node 22 and 24.
 */
export function describeOnNode(major: number, name: string, fn: () => void): void {
  if (NODE_MAJOR >= major) {
    describe(name, fn);
    return;
  }
  console.warn(
    `Skipping ${name}: its packages need Node.js >= ${major}, this is ${process.versions.node} ` +
      `(CI runs it on Node 22 and 24).`,
  );
  describe.skip(name, fn);
}

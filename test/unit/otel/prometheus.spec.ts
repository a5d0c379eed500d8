import { readFileSync } from 'node:fs';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { defineBudget } from '../../../lib/core/budget.js';
import { instrumentTokencap } from '../../../lib/otel/index.js';
import { MESSAGES, useHarness } from '../openai/openai.fixture.js';

// docs/opentelemetry.md promises dashboard-ready PromQL: every metric name its queries use must be
// one the Prometheus exporter really serves for Tokencap's metrics.

const doc = readFileSync('docs/opentelemetry.md', 'utf8');
const promql = /## Dashboard queries \(PromQL\)[\s\S]*?```text\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
const alert = /An alert on refusals: `([^`]+)`/.exec(doc)?.[1] ?? '';

describe('the PromQL of docs/opentelemetry.md', () => {
  const h = useHarness({ replyTokens: 5 });
  let provider: MeterProvider | undefined;
  afterEach(async () => {
    await provider?.shutdown();
  });

  it('names only series the Prometheus exporter serves', async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    provider = new MeterProvider({ readers: [exporter] });
    const stop = instrumentTokencap({ ledger: h.ledger, meterProvider: provider });
    const client = h.client();
    const b = defineBudget({
      scope: 'session',
      key: 'docs',
      limit: { tokens: 1_000, usd: 1, requests: 1 },
    });
    await h.within(b, async () => {
      await client.chat.completions.create({ model: 'gpt-4o', messages: MESSAGES });
      await client.chat.completions
        .create({ model: 'gpt-4o', messages: MESSAGES })
        .catch(() => null);
    });
    stop();
    const { resourceMetrics } = await exporter.collect();
    const served = new PrometheusSerializer().serialize(resourceMetrics);
    const series = new Set(
      served
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .map((line) => line.split(/[{ ]/)[0]),
    );
    const used = new Set(
      [...`${promql}\n${alert}`.matchAll(/\b(?:gen_ai|tokencap)_[a-z_]+(?=[{[ ])/g)].map(
        (m) => m[0],
      ),
    );
    expect(used.size).toBeGreaterThanOrEqual(4);
    expect([...used].filter((name) => !series.has(name))).toEqual([]);
    // And each label the queries group or filter by is one the series carry.
    for (const [, label] of `${promql}\n${alert}`.matchAll(
      /\b((?:gen_ai|tokencap)_[a-z_]+)(?=[,)=])/g,
    )) {
      expect(served).toContain(`${label}=`);
    }
  });
});

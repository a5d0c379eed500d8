import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { type SampleApp, startSample } from '../../../sample/bootstrap.js';
import { CLAUDE_CHAT_MODEL, RESEARCH_TASK_LIMIT } from '../../../sample/sample.config.js';

describe('the sample research agent: a LangChain createAgent loop stopped by its task budget', () => {
  let sample: SampleApp | undefined;
  afterEach(async () => {
    await sample?.close();
    sample = undefined;
  });

  const research = (session: string) =>
    request(sample!.app.getHttpServer())
      .post('/api/research')
      .set('x-session-id', session)
      .send({ topic: 'why our bill spiked' });
  const billed = () => {
    const t = sample!.fakeAnthropic!.tally;
    return t.inputTokens + t.cacheReadInputTokens + t.cacheCreationInputTokens + t.outputTokens;
  };

  it('runs turn after turn of search calls until the task budget refuses the next one, which never reaches the provider', async () => {
    sample = await startSample({ port: 0, quiet: true, fake: true });
    const fake = sample.fakeAnthropic!;
    const res = await research('r1').expect(200);
    const { turns, tokens, outcome } = res.body as {
      turns: number;
      tokens: number;
      outcome: string;
    };
    // Every answered turn asked for a search; the refused turn was never sent.
    expect(turns).toBe(fake.tally.requests);
    expect(turns).toBeGreaterThan(5);
    expect(outcome).toBe(
      `halted by its ${RESEARCH_TASK_LIMIT.toLocaleString('en')}-token task budget after ${turns} turns`,
    );
    expect(tokens).toBe(billed());
    expect(tokens).toBeLessThanOrEqual(RESEARCH_TASK_LIMIT);
    // A real agent loop: each request carries the previous turns' tool calls and results.
    const last = fake.requests.at(-1)!.body as {
      model: string;
      messages: unknown[];
      tools: { name: string }[];
    };
    expect(last.model).toBe(CLAUDE_CHAT_MODEL);
    expect(last.tools.map((t) => t.name)).toEqual(['search']);
    expect(last.messages).toHaveLength(1 + 2 * (turns - 1));
    // OpenAI was never called: the agent runs on Claude.
    expect(sample.fake!.tally.requests).toBe(0);

    // The session's usage holds the run's tokens.
    const usage = await request(sample.app.getHttpServer())
      .get('/api/usage')
      .set('x-session-id', 'r1')
      .expect(200);
    expect(usage.body.used).toBe(tokens);
  });

  it('a session that cannot fit another turn gets a 429 from the session budget, not a quiet halt', async () => {
    sample = await startSample({ port: 0, quiet: true, fake: true });
    let refused: request.Response | undefined;
    for (let run = 0; run < 5 && !refused; run++) {
      const res = await research('r2');
      if (res.status === 429) refused = res;
      else expect(res.status).toBe(200);
    }
    expect(refused?.body).toMatchObject({
      statusCode: 429,
      error: 'Budget Exceeded',
      scope: 'session',
    });
    const usage = await request(sample.app.getHttpServer())
      .get('/api/usage')
      .set('x-session-id', 'r2')
      .expect(200);
    expect(usage.body.used).toBe(billed());
    expect(usage.body.used).toBeLessThanOrEqual(50_000);
  });
});

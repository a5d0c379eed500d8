import { describe, expect, it } from 'vitest';
import { BudgetExceededError } from '../../../lib/errors.js';
import { estimateMessagesInput } from '../../../lib/providers/anthropic/messages-request.estimator.js';
import { MAX_PDF_PAGES, pdfPageCount } from '../../../lib/providers/anthropic/pdf-pages.counter.js';
import { INPUT_RULES } from '../../../lib/testing/anthropic/prompt.layout.js';
import { pdfOfPages } from '../../fixtures/pdf.fixture.js';
import { billedTokens, budget, MODEL, useHarness } from './anthropic-wrapper.fixture.js';

const withPdf = (data: string) => [
  {
    role: 'user' as const,
    content: [
      {
        type: 'document' as const,
        source: { type: 'base64' as const, media_type: 'application/pdf' as const, data },
      },
      { type: 'text' as const, text: 'Summarise it.' },
    ],
  },
];

describe('pdfPageCount', () => {
  it('counts the pages of a PDF written with object streams (pdf-lib, Chrome, Office, pdfTeX)', () => {
    expect(pdfPageCount(pdfOfPages(20))).toBe(20);
    expect(pdfPageCount(pdfOfPages(20, { objectStreams: false }))).toBe(20);
  });

  it('reads escaped names and pages found only through /Kids', () => {
    expect(pdfPageCount(pdfOfPages(7, { escapedNames: true }))).toBe(7);
    expect(pdfPageCount(pdfOfPages(7, { objectStreams: false, escapedNames: true }))).toBe(7);
    expect(pdfPageCount(pdfOfPages(9, { untypedPages: true }))).toBe(9);
  });

  it('fails closed (the most pages a request takes) when it cannot be sure', () => {
    expect(pdfPageCount(pdfOfPages(3, { filter: '/LZWDecode' }))).toBe(MAX_PDF_PAGES);
    expect(pdfPageCount(Buffer.from('not a pdf').toString('base64'))).toBe(MAX_PDF_PAGES);
    expect(pdfPageCount(42)).toBe(MAX_PDF_PAGES);
  });

  it('the estimate of a document is the same however the PDF is written', () => {
    const estimate = (data: string) =>
      estimateMessagesInput({ model: MODEL, messages: withPdf(data) }, MODEL).inputTokens;
    expect(estimate(pdfOfPages(20))).toBe(estimate(pdfOfPages(20, { objectStreams: false })));
  });
});

describe('wrapAnthropic: a PDF written with object streams', () => {
  const h = useHarness({ replyTokens: 20 });

  it('the fake bills every page of it', async () => {
    const message = await h.raw().messages.create({
      model: MODEL,
      max_tokens: 10,
      messages: withPdf(pdfOfPages(20)),
    });
    expect(message.usage.input_tokens).toBeGreaterThan(20 * INPUT_RULES.pdfPage);
  });

  it('a hard-stop budget refuses a 20-page PDF it cannot hold, before anything is sent', async () => {
    const b = budget(10_000);
    const client = h.client();
    const error = await h
      .within(b, () =>
        client.messages.create({
          model: MODEL,
          max_tokens: 100,
          messages: withPdf(pdfOfPages(20)),
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BudgetExceededError);
    expect(h.server.requests).toHaveLength(0);
    expect(billedTokens(h.server)).toBe(0);
    expect(await h.used(b)).toEqual({ used: 0, reserved: 0 });
  });

  it('a budget that holds it is charged what the fake billed', async () => {
    const b = budget(200_000);
    const client = h.client();
    await h.within(b, () =>
      client.messages.create({ model: MODEL, max_tokens: 100, messages: withPdf(pdfOfPages(20)) }),
    );
    expect(await h.used(b)).toEqual({ used: billedTokens(h.server), reserved: 0 });
  });
});

// The fake OpenAI server of the soak run, in its own process: it then has a core of its own on
// a small machine, and its memory stays out of the heap the soak measures. Started by
// test/soak/wrapped-calls.soak.ts through test/redis/support/register.mjs (an SWC loader).
import { startFakeOpenAI } from '../../../lib/testing/index.js';

const server = await startFakeOpenAI({
  recordRequests: false,
  replyTokens: Number(process.env.SOAK_REPLY_TOKENS ?? 8),
});
process.send?.({ type: 'ready', baseURL: server.baseURL });
process.on('message', (message: { type?: string }) => {
  if (message?.type === 'tally') {
    void server.settled().then(() => process.send?.({ type: 'tally', tally: server.tally }));
  } else if (message?.type === 'close') {
    void server.close().then(() => process.exit(0));
  }
});

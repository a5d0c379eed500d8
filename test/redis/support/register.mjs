// Preload for child processes: `node --import ./test/redis/support/register.mjs file.ts`.
import { register } from 'node:module';

register('./ts-loader.mjs', import.meta.url);

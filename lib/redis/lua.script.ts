import { createHash } from 'node:crypto';
import { COMMIT_LUA } from './scripts/commit.lua.js';
import { EXTEND_LUA } from './scripts/extend.lua.js';
import { CLAIM_LUA, CREDIT_LUA, INSPECT_LUA, RESET_LUA } from './scripts/ops.lua.js';
import { RELEASE_LUA } from './scripts/release.lua.js';
import { RESERVE_LUA } from './scripts/reserve.lua.js';
import { SNAPSHOT_LUA } from './scripts/snapshot.lua.js';

/** A Lua script with its SHA-1, computed once so calls go out as `EVALSHA`. */
export interface LuaScript {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

function script(name: string, source: string): LuaScript {
  return Object.freeze({ name, source, sha: createHash('sha1').update(source).digest('hex') });
}

/** The scripts of the Redis store: one per phase of a call, extend for leases, then the operators' ones. */
export const SCRIPTS = Object.freeze({
  reserve: script('reserve', RESERVE_LUA),
  commit: script('commit', COMMIT_LUA),
  release: script('release', RELEASE_LUA),
  snapshot: script('snapshot', SNAPSHOT_LUA),
  extend: script('extend', EXTEND_LUA),
  inspect: script('inspect', INSPECT_LUA),
  reset: script('reset', RESET_LUA),
  credit: script('credit', CREDIT_LUA),
  claim: script('claim', CLAIM_LUA),
});

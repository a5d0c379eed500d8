import { invalidRequest } from './anthropic-error.factory.js';

/** A JSON object from the request body, checked field by field before use. */
export type JsonObject = Record<string, unknown>;

/** A `cache_control` breakpoint as the API accepts it. */
export interface CacheControl {
  type: 'ephemeral';
  ttl: '5m' | '1h';
}

/** Roles whose content blocks the validator accepts. */
export type Role = 'user' | 'assistant' | 'system';

const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];

/**
 * Block types the API accepts in `messages`, and the roles allowed to carry them. Types other than
 * the core ones (server-tool results, search results, uploads) are checked only for their `type`.
 */
const BLOCK_ROLES: Readonly<Record<string, readonly Role[]>> = {
  text: ['user', 'assistant', 'system'],
  image: ['user'],
  document: ['user'],
  search_result: ['user'],
  tool_result: ['user'],
  container_upload: ['user'],
  tool_use: ['assistant'],
  thinking: ['assistant'],
  redacted_thinking: ['assistant'],
  server_tool_use: ['assistant'],
  web_search_tool_result: ['assistant'],
  web_fetch_tool_result: ['assistant'],
  code_execution_tool_result: ['assistant'],
  bash_code_execution_tool_result: ['assistant'],
  text_editor_code_execution_tool_result: ['assistant'],
  tool_search_tool_result: ['assistant'],
};

/** Throws the API's 400 for the field at `path`. */
export function fieldError(path: string, message: string): never {
  throw invalidRequest(`${path}: ${message}`);
}

/** Returns `value` as an object, or throws the API's type error for `path`. */
export function object(value: unknown, path: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fieldError(path, 'Input should be a valid dictionary');
  }
  return value as JsonObject;
}

/** Returns `value` as a string, or throws for `path`. */
export function string(value: unknown, path: string): string {
  if (value === undefined) fieldError(path, 'Field required');
  if (typeof value !== 'string') fieldError(path, 'Input should be a valid string');
  return value;
}

/** Rejects keys outside `allowed`, as the API does ("Extra inputs are not permitted"). */
export function noExtraKeys(value: JsonObject, allowed: readonly string[], path: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fieldError(join(path, key), 'Extra inputs are not permitted');
  }
}

/** `a.b`, or `b` at the top level. */
export function join(path: string, key: string | number): string {
  return path === '' ? String(key) : `${path}.${key}`;
}

/** Validates an optional `cache_control` field; returns it with its TTL defaulted to 5 minutes. */
export function cacheControl(value: unknown, path: string): CacheControl | undefined {
  if (value === undefined || value === null) return undefined;
  const cc = object(value, path);
  noExtraKeys(cc, ['type', 'ttl'], path);
  if (cc.type !== 'ephemeral') fieldError(join(path, 'type'), "Input should be 'ephemeral'");
  if (cc.ttl !== undefined && cc.ttl !== '5m' && cc.ttl !== '1h') {
    fieldError(join(path, 'ttl'), "Input should be '5m' or '1h'");
  }
  return { type: 'ephemeral', ttl: cc.ttl === '1h' ? '1h' : '5m' };
}

/**
 * Validates one content block of a message of `role` at `path` (e.g. `messages.2.content.0`).
 * @returns the block, unchanged.
 */
export function contentBlock(value: unknown, role: Role, path: string): JsonObject {
  const block = object(value, path);
  const type = block.type;
  if (typeof type !== 'string' || !(type in BLOCK_ROLES)) {
    fieldError(
      join(path, 'type'),
      `Input tag ${JSON.stringify(String(type)).slice(0, 66)} found using 'type' does not match any of the expected tags`,
    );
  }
  if (!BLOCK_ROLES[type]!.includes(role)) {
    fieldError(path, `\`${type}\` blocks are not allowed in \`${role}\` messages`);
  }
  switch (type) {
    case 'text':
      textBlock(block, path);
      break;
    case 'image':
      noExtraKeys(block, ['type', 'source', 'cache_control', 'transformations'], path);
      imageSource(block.source, join(path, 'source'));
      break;
    case 'document':
      documentBlock(block, path);
      break;
    case 'tool_use':
      noExtraKeys(
        block,
        ['type', 'id', 'name', 'input', 'cache_control', 'caller', 'toolset_name'],
        path,
      );
      string(block.id, join(path, 'id'));
      string(block.name, join(path, 'name'));
      object(block.input, join(path, 'input'));
      break;
    case 'tool_result':
      toolResultBlock(block, path);
      break;
    case 'thinking':
      noExtraKeys(block, ['type', 'thinking', 'signature'], path);
      string(block.thinking, join(path, 'thinking'));
      string(block.signature, join(path, 'signature'));
      break;
    case 'redacted_thinking':
      noExtraKeys(block, ['type', 'data'], path);
      string(block.data, join(path, 'data'));
      break;
  }
  cacheControl(block.cache_control, join(path, 'cache_control'));
  return block;
}

/** A text block: non-empty, with something other than whitespace in it. */
export function textBlock(block: JsonObject, path: string): void {
  noExtraKeys(block, ['type', 'text', 'cache_control', 'citations'], path);
  const text = string(block.text, join(path, 'text'));
  if (text.trim() === '') fieldError(path, 'text content blocks must contain non-whitespace text');
}

function imageSource(value: unknown, path: string): void {
  const source = object(value, path);
  switch (source.type) {
    case 'base64':
      noExtraKeys(source, ['type', 'media_type', 'data'], path);
      if (!IMAGE_MEDIA_TYPES.includes(source.media_type as string)) {
        fieldError(
          join(path, 'media_type'),
          `Input should be ${IMAGE_MEDIA_TYPES.map((t) => `'${t}'`).join(', ')}`,
        );
      }
      string(source.data, join(path, 'data'));
      break;
    case 'url':
      noExtraKeys(source, ['type', 'url'], path);
      string(source.url, join(path, 'url'));
      break;
    case 'file':
      noExtraKeys(source, ['type', 'file_id'], path);
      string(source.file_id, join(path, 'file_id'));
      break;
    default:
      fieldError(join(path, 'type'), "Input should be 'base64', 'url' or 'file'");
  }
}

function documentBlock(block: JsonObject, path: string): void {
  noExtraKeys(block, ['type', 'source', 'cache_control', 'citations', 'context', 'title'], path);
  const sourcePath = join(path, 'source');
  const source = object(block.source, sourcePath);
  switch (source.type) {
    case 'base64':
      if (source.media_type !== 'application/pdf') {
        fieldError(join(sourcePath, 'media_type'), "Input should be 'application/pdf'");
      }
      string(source.data, join(sourcePath, 'data'));
      break;
    case 'text':
      if (source.media_type !== 'text/plain') {
        fieldError(join(sourcePath, 'media_type'), "Input should be 'text/plain'");
      }
      string(source.data, join(sourcePath, 'data'));
      break;
    case 'content':
      if (typeof source.content !== 'string') {
        nestedBlocks(source.content, ['text', 'image'], join(sourcePath, 'content'));
      }
      break;
    case 'url':
      string(source.url, join(sourcePath, 'url'));
      break;
    case 'file':
      string(source.file_id, join(sourcePath, 'file_id'));
      break;
    default:
      fieldError(
        join(sourcePath, 'type'),
        "Input should be 'base64', 'text', 'content', 'url' or 'file'",
      );
  }
}

function toolResultBlock(block: JsonObject, path: string): void {
  noExtraKeys(
    block,
    ['type', 'tool_use_id', 'content', 'is_error', 'cache_control', 'toolset_name'],
    path,
  );
  string(block.tool_use_id, join(path, 'tool_use_id'));
  if (block.is_error !== undefined && typeof block.is_error !== 'boolean') {
    fieldError(join(path, 'is_error'), 'Input should be a valid boolean');
  }
  if (block.content !== undefined && typeof block.content !== 'string') {
    nestedBlocks(
      block.content,
      ['text', 'image', 'document', 'search_result', 'tool_reference'],
      join(path, 'content'),
    );
  }
}

/** Blocks nested inside a tool result or a content document. */
function nestedBlocks(value: unknown, allowed: readonly string[], path: string): void {
  if (!Array.isArray(value)) fieldError(path, 'Input should be a valid list');
  value.forEach((item, i) => {
    const itemPath = join(path, i);
    const block = object(item, itemPath);
    if (!allowed.includes(block.type as string)) {
      fieldError(
        join(itemPath, 'type'),
        `Input should be ${allowed.map((t) => `'${t}'`).join(', ')}`,
      );
    }
    if (block.type === 'text') textBlock(block, itemPath);
    else if (block.type === 'image') imageSource(block.source, join(itemPath, 'source'));
    else if (block.type === 'document') documentBlock(block, itemPath);
    cacheControl(block.cache_control, join(itemPath, 'cache_control'));
  });
}

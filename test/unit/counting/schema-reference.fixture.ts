// Independent references for tool-schema counts, written without the library's walker:
// - leafTokens: the tokens of every string leaf and every key, each encoded alone;
// - renderFunctions: the tool list rendered as the TypeScript-like namespace OpenAI's models
//   read (the layout of the published Harmony format), every schema keyword shown, `$defs`
//   rendered once as named types. Its token count for the cookbook's weather tool is 69, one
//   more than the 68 the API bills for it, so it errs high like the library should.

type Json = unknown;

/** Tokens of every string value and every object key in `value`, each counted alone. */
export function leafTokens(value: Json, count: (text: string) => number): number {
  let total = 0;
  const stack: Json[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'string') total += count(node);
    else if (Array.isArray(node)) stack.push(...node);
    else if (typeof node === 'object' && node !== null) {
      for (const [key, child] of Object.entries(node)) {
        total += count(key);
        stack.push(child);
      }
    }
  }
  return total;
}

interface FunctionDefinition {
  name: string;
  description?: string;
  parameters?: Record<string, Json>;
}

/** The Harmony-style `# Tools` section for these functions. */
export function renderFunctions(functions: readonly FunctionDefinition[]): string {
  const lines = ['# Tools', '', '## functions', '', 'namespace functions {', ''];
  for (const fn of functions) {
    const parameters = fn.parameters ?? {};
    for (const defs of [parameters.$defs, parameters.definitions]) {
      if (typeof defs !== 'object' || defs === null) continue;
      for (const [name, def] of Object.entries(defs)) {
        lines.push(...comments(def), `type ${name} = ${renderType(def, '')};`, '');
      }
    }
    if (fn.description) lines.push(`// ${fn.description}`);
    lines.push(`type ${fn.name} = (_: ${renderType(parameters, '')}) => any;`, '');
  }
  lines.push('} // namespace functions');
  return lines.join('\n');
}

const SHOWN_ELSEWHERE = new Set([
  'type',
  'properties',
  'required',
  'items',
  'enum',
  'const',
  'anyOf',
  'oneOf',
  'allOf',
  '$ref',
  '$defs',
  'definitions',
  'description',
]);

/** `// description` and `// key: value` lines for every other keyword of `schema`. */
function comments(schema: Json, indent = ''): string[] {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return [];
  const lines: string[] = [];
  const record = schema as Record<string, Json>;
  if (typeof record.description === 'string') lines.push(`${indent}// ${record.description}`);
  for (const [key, value] of Object.entries(record)) {
    if (!SHOWN_ELSEWHERE.has(key)) lines.push(`${indent}// ${key}: ${JSON.stringify(value)}`);
  }
  return lines;
}

function renderType(schema: Json, indent: string): string {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) return 'any';
  const s = schema as Record<string, Json>;
  if (typeof s.$ref === 'string') return s.$ref.split('/').pop() ?? 'any';
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (s.const !== undefined) return JSON.stringify(s.const);
  for (const [key, joiner] of [
    ['anyOf', ' | '],
    ['oneOf', ' | '],
    ['allOf', ' & '],
  ] as const) {
    const variants = s[key];
    if (Array.isArray(variants)) {
      return variants
        .map((variant) => {
          const notes = comments(variant, `${indent}  `);
          const type = renderType(variant, `${indent}  `);
          return notes.length > 0 ? `\n${notes.join('\n')}\n${indent}  ${type}` : type;
        })
        .join(joiner);
    }
  }
  if (s.type === 'array') return `${renderType(s.items, indent)}[]`;
  if (typeof s.properties === 'object' && s.properties !== null) {
    const required = Array.isArray(s.required) ? s.required : [];
    const inner = `${indent}  `;
    const lines = ['{'];
    for (const [key, property] of Object.entries(s.properties as Record<string, Json>)) {
      lines.push(...comments(property, inner));
      const optional = required.includes(key) ? '' : '?';
      lines.push(`${inner}${key}${optional}: ${renderType(property, inner)},`);
    }
    lines.push(`${indent}}`);
    return lines.join('\n');
  }
  if (s.type === 'integer') return 'number';
  if (Array.isArray(s.type)) return s.type.join(' | ');
  return typeof s.type === 'string' ? s.type : 'any';
}

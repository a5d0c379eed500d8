// Fails the docs build on a dead link: every local href/src of every page of the built site must
// name a file that exists and, with a #fragment, an element with that id in it. TypeDoc checks
// the links it rewrites; this also catches anchors, which it does not.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const site = resolve(process.argv[2] ?? 'site');

function* pages(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* pages(path);
    else if (entry.name.endsWith('.html')) yield path;
  }
}

const ids = new Map();
function idsOf(file) {
  let found = ids.get(file);
  if (!found) {
    const text = readFileSync(file, 'utf8');
    found = new Set([...text.matchAll(/\s(?:id|name)="([^"]+)"/g)].map((m) => m[1]));
    ids.set(file, found);
  }
  return found;
}

const dead = [];
let checked = 0;
for (const page of pages(site)) {
  const html = readFileSync(page, 'utf8');
  for (const [, link] of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
    if (/^(?:[a-z][a-z0-9+.-]*:|\/\/)/i.test(link)) continue; // absolute URLs: not ours to check
    checked++;
    const [path, fragment] = link.split('#', 2);
    const target = path === '' ? page : resolve(dirname(page), decodeURIComponent(path));
    if (!target.startsWith(site) || !existsSync(target)) {
      dead.push(`${relative(site, page)}: ${link} (no such file)`);
    } else if (
      fragment &&
      target.endsWith('.html') &&
      !idsOf(target).has(decodeURIComponent(fragment))
    ) {
      dead.push(`${relative(site, page)}: ${link} (no element with id "${fragment}")`);
    }
  }
}

if (dead.length > 0) {
  console.error(
    `docs: ${dead.length} dead link(s) in ${relative(process.cwd(), site)}/:\n  ${dead.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`docs: ${checked} local links checked, none dead`);

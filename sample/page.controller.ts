import { readFileSync } from 'node:fs';
import { Controller, Get, Header } from '@nestjs/common';

// Read once: the page is static. Resolved next to this file, in sample/ and in the compiled output.
const page = readFileSync(new URL('./public/index.html', import.meta.url), 'utf8');

/** The chat page with the budget meter. */
@Controller()
export class PageController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  index(): string {
    return page;
  }
}

/** `npm run openapi`: write openapi.json from the zod schemas (a test fails when it is stale). */
import { writeFileSync } from 'node:fs';
import { openApiDocument } from '../src/http/openapi.js';

writeFileSync(new URL('../openapi.json', import.meta.url), `${JSON.stringify(openApiDocument(), null, 2)}\n`);
console.log('openapi.json written');

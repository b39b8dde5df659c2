// Writes clients/api-schema.ts from the server's OpenAPI document (run after a build: npm run generate:client).
import { writeFileSync } from 'node:fs';
import { API_TYPES_FILE, generateApiTypes } from '../dist/test/support/api-types.js';

writeFileSync(API_TYPES_FILE, await generateApiTypes());
console.log(`wrote ${API_TYPES_FILE}`);
process.exit(0);

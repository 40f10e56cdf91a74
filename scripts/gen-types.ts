/** Regenerates src/events/generated.ts from schemas/ (run: npm run gen:types). */
import fs from 'node:fs';
import path from 'node:path';
import { generateTypes } from '../src/events/codegen';

const target = path.resolve(__dirname, '../src/events/generated.ts');
fs.writeFileSync(target, generateTypes());
console.log(`wrote ${path.relative(process.cwd(), target)}`);

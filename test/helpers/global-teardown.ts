import fs from 'node:fs';
import path from 'node:path';
import { LocalStack } from '../../src/dev/stack';

/** Stops what global setup started, unless TIDINGS_KEEP_STACK=1 (faster reruns). */
export default async function globalTeardown(): Promise<void> {
  const stack = new LocalStack();
  const marker = path.join(stack.home, 'test-started.json');
  const startedHere = fs.existsSync(marker) ? (JSON.parse(fs.readFileSync(marker, 'utf8')) as string[]) : [];
  fs.rmSync(marker, { force: true });
  if (process.env.TIDINGS_KEEP_STACK === '1' || startedHere.length === 0) return;
  await stack.down();
}

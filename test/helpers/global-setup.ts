import fs from 'node:fs';
import path from 'node:path';
import { LocalStack } from '../../src/dev/stack';

/** Starts (or reuses) the local stack once for the whole run and remembers what it started. */
export default async function globalSetup(): Promise<void> {
  const stack = new LocalStack({ progress: (line) => process.stdout.write(`  [stack] ${line}\n`) });
  const before = await stack.status();
  await stack.up();
  const startedHere = before.filter((c) => c.managed && !c.up).map((c) => c.name);
  fs.mkdirSync(stack.home, { recursive: true });
  fs.writeFileSync(path.join(stack.home, 'test-started.json'), JSON.stringify(startedHere));
}

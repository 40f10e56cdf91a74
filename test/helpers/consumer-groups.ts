import type { TestContext } from './test-context';

/**
 * Deletes the consumer groups a test's CLI run created on the shared broker: those named
 * with the test's prefix (`<ctx.id>.`), which the test context's own cleanup does not know of.
 */
export async function deleteTestGroups(ctx: TestContext): Promise<void> {
  const admin = ctx.platform.kafka.admin();
  await admin.connect();
  try {
    const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${ctx.id}.`));
    await admin.deleteGroups(groups).catch(() => undefined);
  } finally {
    await admin.disconnect();
  }
}

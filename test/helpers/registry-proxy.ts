import { Platform } from '../../src/platform';
import { TcpProxy } from './tcp-proxy';
import type { TestContext } from './test-context';

/**
 * A Platform for the test's topics whose registry URL goes through a TcpProxy, so the test can
 * cut this platform's registry (and only its) with `proxy.cut()`.
 */
export async function platformBehindRegistryProxy(ctx: TestContext): Promise<{ proxy: TcpProxy; platform: Platform }> {
  const registry = new URL(ctx.platform.endpoints.schemaRegistryUrl);
  const proxy = await TcpProxy.start({ host: registry.hostname, port: Number(registry.port) });
  const platform = new Platform({
    endpoints: { ...ctx.platform.endpoints, schemaRegistryUrl: proxy.via(ctx.platform.endpoints.schemaRegistryUrl) },
    topics: ctx.topics,
    clientId: `test-${ctx.id}-proxied`,
  });
  return { proxy, platform };
}

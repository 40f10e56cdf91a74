import { randomBytes } from 'node:crypto';
import { resolveEndpoints } from '../../src/config/env';
import { getEventDefinition, listEventDefinitions } from '../../src/events/catalog';
import type { EventType } from '../../src/events/generated';
import { prefixedTopics, type TopicNames } from '../../src/kafka/topics';
import { EventRegistry, subjectFor } from '../../src/registry/event-registry';
import { RegistryRequestError } from '../../src/registry/registry-http';
import { runTidings } from '../helpers/tidings-cli';

const url = resolveEndpoints().schemaRegistryUrl;

/** Reads the registry's own state, without going through the code under test. */
async function registryGet(path: string): Promise<unknown> {
  const response = await fetch(`${url}${path}`);
  return response.json() as Promise<unknown>;
}

/** A fresh topic prefix, hence subjects no other test or run has ever registered. */
function freshTopics(): { prefix: string; topics: TopicNames } {
  const prefix = `t${randomBytes(4).toString('hex')}.`;
  return { prefix, topics: prefixedTopics(prefix) };
}

describe('schema registration', () => {
  const registry = new EventRegistry({ url });
  const used: TopicNames[] = [];

  afterAll(async () => {
    for (const topics of used) {
      for (const def of listEventDefinitions()) await registry.deleteSubject(def.type as EventType, topics[def.domain]);
    }
  });

  it('two processes registering the same new subjects at once both succeed, with the same ids and BACKWARD compatibility', async () => {
    const { prefix, topics } = freshTopics();
    used.push(topics);
    const env = { SCHEMA_REGISTRY_URL: url, TIDINGS_TOPIC_PREFIX: prefix };
    const runs = await Promise.all([1, 2].map(() => runTidings(['schemas', 'register'], env)));

    const idsOf = (stdout: string): Record<string, string> =>
      Object.fromEntries([...stdout.matchAll(/^registered (\S+) \(id (\d+)\)$/gm)].map((m) => [m[1], m[2]]));
    const expected = listEventDefinitions().map((def) => subjectFor(topics[def.domain], def)).sort();
    for (const run of runs) {
      expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: '' });
      expect(Object.keys(idsOf(run.stdout)).sort()).toEqual(expected);
    }
    expect(idsOf(runs[0]?.stdout ?? '')).toEqual(idsOf(runs[1]?.stdout ?? ''));
    for (const subject of expected) {
      expect(await registryGet(`/config/${encodeURIComponent(subject)}`)).toEqual({ compatibilityLevel: 'BACKWARD' });
      expect(await registryGet(`/subjects/${encodeURIComponent(subject)}/versions`)).toEqual([1]);
    }
  });

  it('completes a registration interrupted after the subject was created and before its compatibility was set', async () => {
    const { topics } = freshTopics();
    used.push(topics);
    const definition = getEventDefinition('PAYMENT_SUCCEEDED');
    const subject = subjectFor(topics.payment, definition);
    // The interrupted registration: the schema is in, the subject's compatibility never set.
    const created = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(definition.schema) }),
    });
    const { id: createdId } = (await created.json()) as { id: number };
    expect(await registryGet(`/config/${encodeURIComponent(subject)}`)).not.toEqual({ compatibilityLevel: 'BACKWARD' });

    await expect(registry.register('PAYMENT_SUCCEEDED', topics.payment)).resolves.toEqual({ subject, id: createdId });
    expect(await registryGet(`/config/${encodeURIComponent(subject)}`)).toEqual({ compatibilityLevel: 'BACKWARD' });
    expect(await registryGet(`/subjects/${encodeURIComponent(subject)}/versions`)).toEqual([1]);

    // BACKWARD is in force: a new required field without a default is refused, for good, with the registry's reason.
    const breaking = { ...definition.schema, fields: [...definition.schema.fields, { name: 'tax_id', type: 'string' }] };
    const refusal = await registry.registerSchema(subject, breaking).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refusal).toBeInstanceOf(RegistryRequestError);
    expect(refusal).toMatchObject({ status: 409, retriable: false, code: 'REGISTRY_FAILED' });
    expect((refusal as Error).message).toMatch(/Incompatible/);
    expect(await registryGet(`/subjects/${encodeURIComponent(subject)}/versions`)).toEqual([1]);
  });
});

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readEnv, resolveEndpoints } from '../../src/config/env';
import { ConfigError } from '../../src/errors';
import { kafkaSecurityConfig } from '../../src/kafka/client';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-env-'));
const pem = path.join(dir, 'ca.pem');
fs.writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const notPem = path.join(dir, 'notes.txt');
fs.writeFileSync(notPem, 'hello');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const https = { SCHEMA_REGISTRY_URL: 'https://registry.example.com/apis/ccompat/v7' };

/** readEnv's refusal of `env`, which must be a ConfigError. */
function refusal(env: Record<string, string>): string {
  try {
    readEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('accepted');
}

describe('Kafka and registry security settings', () => {
  it('needs a username and a password with a SASL mechanism, naming the missing one', () => {
    expect(refusal({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'auth-producer' })).toContain('KAFKA_SASL_PASSWORD is required with KAFKA_SASL_MECHANISM=scram-sha-512');
    expect(refusal({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_PASSWORD: 'secret' })).toContain('KAFKA_SASL_USERNAME is required with KAFKA_SASL_MECHANISM=scram-sha-256');
    expect(refusal({ KAFKA_SASL_USERNAME: 'auth-producer', KAFKA_SASL_PASSWORD: 'secret' })).toContain('KAFKA_SASL_USERNAME is set but KAFKA_SASL_MECHANISM is not');
    expect(refusal({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'a', KAFKA_SASL_PASSWORD: 'b' })).toContain('KAFKA_SASL_MECHANISM must be scram-sha-512, scram-sha-256 or plain');
  });

  it('refuses PLAIN without TLS, which would send the password in clear text', () => {
    const plain = { KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'a', KAFKA_SASL_PASSWORD: 'b' };
    expect(refusal(plain)).toContain('KAFKA_SASL_MECHANISM plain would send KAFKA_SASL_PASSWORD in clear text');
    expect(() => readEnv({ ...plain, KAFKA_SSL: 'true' })).not.toThrow();
  });

  it('refuses TLS files that cannot be read, contradict KAFKA_SSL, or come without their pair', () => {
    expect(refusal({ KAFKA_SSL_CA_FILE: path.join(dir, 'missing.pem') })).toContain('KAFKA_SSL_CA_FILE must be a readable PEM file');
    expect(refusal({ KAFKA_SSL: 'false', KAFKA_SSL_CA_FILE: pem })).toContain('KAFKA_SSL_CA_FILE is set but KAFKA_SSL is false');
    expect(refusal({ KAFKA_SSL_CERT_FILE: pem })).toContain('KAFKA_SSL_KEY_FILE is required with KAFKA_SSL_CERT_FILE: mutual TLS needs the client certificate and its key');
    expect(refusal({ KAFKA_SSL: 'maybe' })).toMatch(/KAFKA_SSL /);
  });

  it('turns the settings into the endpoints’ Kafka security: TLS on with a CA file alone, nothing when unset', () => {
    expect(resolveEndpoints(readEnv({})).kafkaSecurity).toBeUndefined();
    expect(resolveEndpoints(readEnv({ KAFKA_SSL_CA_FILE: pem })).kafkaSecurity).toEqual({ sasl: undefined, ssl: { caFile: pem } });
    expect(
      resolveEndpoints(readEnv({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'notification', KAFKA_SASL_PASSWORD: 's3cret', KAFKA_SSL: 'true' })).kafkaSecurity,
    ).toEqual({ sasl: { mechanism: 'scram-sha-512', username: 'notification', password: 's3cret' }, ssl: { caFile: undefined, certFile: undefined, keyFile: undefined } });
    // SCRAM over plaintext is allowed (the password never crosses the wire).
    expect(resolveEndpoints(readEnv({ KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'n', KAFKA_SASL_PASSWORD: 'p' })).kafkaSecurity?.ssl).toBeUndefined();
  });

  it('reads the PEM files into kafkajs’ TLS settings, naming the setting of a file that is not PEM', () => {
    expect(kafkaSecurityConfig({ ssl: { caFile: pem } }).ssl).toEqual({ ca: [fs.readFileSync(pem)] });
    expect(() => kafkaSecurityConfig({ ssl: { caFile: notPem } })).toThrow(ConfigError);
    expect(() => kafkaSecurityConfig({ ssl: { caFile: notPem } })).toThrow(`KAFKA_SSL_CA_FILE: ${notPem} is not a PEM file`);
  });

  it('takes registry basic auth or a bearer token, over https only', () => {
    expect(resolveEndpoints(readEnv({ ...https, SCHEMA_REGISTRY_USERNAME: 'tidings', SCHEMA_REGISTRY_PASSWORD: 'pw' })).schemaRegistryCredentials).toEqual({ username: 'tidings', password: 'pw' });
    expect(resolveEndpoints(readEnv({ ...https, SCHEMA_REGISTRY_TOKEN: 'tok', SCHEMA_REGISTRY_CA_FILE: pem }))).toMatchObject({ schemaRegistryCredentials: { token: 'tok' }, schemaRegistryCaFile: pem });
    expect(refusal({ ...https, SCHEMA_REGISTRY_USERNAME: 'tidings' })).toContain('SCHEMA_REGISTRY_PASSWORD is required: basic auth needs SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD together');
    expect(refusal({ ...https, SCHEMA_REGISTRY_USERNAME: 'a', SCHEMA_REGISTRY_PASSWORD: 'b', SCHEMA_REGISTRY_TOKEN: 'c' })).toContain('use either a bearer token or basic auth');
    expect(refusal({ SCHEMA_REGISTRY_URL: 'http://registry:8081', SCHEMA_REGISTRY_TOKEN: 'c' })).toContain('SCHEMA_REGISTRY_TOKEN would be sent in clear text: SCHEMA_REGISTRY_URL must be an https:// URL');
    expect(refusal({ SCHEMA_REGISTRY_USERNAME: 'a', SCHEMA_REGISTRY_PASSWORD: 'b' })).toContain('SCHEMA_REGISTRY_PASSWORD would be sent in clear text');
    expect(refusal({ SCHEMA_REGISTRY_CA_FILE: pem })).toContain('SCHEMA_REGISTRY_CA_FILE applies only to an https:// SCHEMA_REGISTRY_URL');
  });

  it('never repeats a secret in a refusal', () => {
    const message = refusal({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'a', KAFKA_SASL_PASSWORD: 'hunter2-secret', SCHEMA_REGISTRY_TOKEN: 'token-secret-xyz' });
    expect(message).not.toContain('hunter2-secret');
    expect(message).not.toContain('token-secret-xyz');
  });
});

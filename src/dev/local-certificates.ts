import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StackError } from '../errors';
import { findJava } from './java';

/**
 * A private CA and one server certificate it signed, for TLS on loopback: the local secure
 * broker, and test servers. Made with the JDK's `keytool` (the stack needs a JDK anyway), once
 * per folder; later calls reuse the files. The CA's private key is deleted once it has signed,
 * so nothing else can be issued under it.
 */
export interface LocalCertificates {
  /** PEM of the CA: what clients trust (KAFKA_SSL_CA_FILE, SCHEMA_REGISTRY_CA_FILE). */
  caFile: string;
  /** PKCS#12 keystore of the server: its key and its certificate chain (valid for localhost and 127.0.0.1). */
  keystoreFile: string;
  keystorePassword: string;
  /** The server certificate's subject, e.g. `CN=tidings-broker`: its principal when it authenticates by certificate. */
  subject: string;
}

const VALIDITY_DAYS = '825';

export function ensureLocalCertificates(dir: string, serverName: string): LocalCertificates {
  const certificates: LocalCertificates = {
    caFile: path.join(dir, 'ca.pem'),
    keystoreFile: path.join(dir, `${serverName}.p12`),
    keystorePassword: '',
    subject: `CN=${serverName}`,
  };
  const passwordFile = path.join(dir, `${serverName}.password`);
  if ([certificates.caFile, certificates.keystoreFile, passwordFile].every((f) => fs.existsSync(f))) {
    return { ...certificates, keystorePassword: fs.readFileSync(passwordFile, 'utf8').trim() };
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const password = randomBytes(18).toString('hex');
  const caStore = path.join(dir, 'ca.p12');
  const chainFile = path.join(dir, `${serverName}-chain.pem`);
  for (const stale of [caStore, certificates.keystoreFile, certificates.caFile, chainFile]) fs.rmSync(stale, { force: true });
  const keytool = keytoolPath();
  const store = (file: string): string[] => ['-keystore', file, '-storetype', 'PKCS12', '-storepass', password];
  try {
    run(keytool, ['-genkeypair', '-alias', 'ca', '-dname', 'CN=Tidings local CA', '-keyalg', 'EC', '-groupname', 'secp256r1', '-validity', VALIDITY_DAYS, '-ext', 'bc:c', ...store(caStore)]);
    run(keytool, ['-exportcert', '-rfc', '-alias', 'ca', '-file', certificates.caFile, ...store(caStore)]);
    run(keytool, ['-genkeypair', '-alias', 'server', '-dname', certificates.subject, '-keyalg', 'EC', '-groupname', 'secp256r1', '-validity', VALIDITY_DAYS, ...store(certificates.keystoreFile)]);
    const request = run(keytool, ['-certreq', '-alias', 'server', ...store(certificates.keystoreFile)]);
    // Clients check the name they dialled: the certificate names both loopback spellings.
    const signed = run(
      keytool,
      ['-gencert', '-alias', 'ca', '-rfc', '-validity', VALIDITY_DAYS, '-ext', 'SAN=dns:localhost,ip:127.0.0.1', '-ext', 'EKU=serverAuth,clientAuth', ...store(caStore)],
      request,
    );
    // The reply is the whole chain (server, then CA), so the keystore presents both.
    fs.writeFileSync(chainFile, signed + fs.readFileSync(certificates.caFile, 'utf8'));
    run(keytool, ['-importcert', '-noprompt', '-alias', 'server', '-file', chainFile, ...store(certificates.keystoreFile)]);
  } finally {
    fs.rmSync(caStore, { force: true });
    fs.rmSync(chainFile, { force: true });
  }
  fs.writeFileSync(passwordFile, password, { mode: 0o600 });
  return { ...certificates, keystorePassword: password };
}

/** `keytool` beside the `java` the stack runs (JAVA_HOME, PATH or /usr/lib/jvm). */
function keytoolPath(): string {
  const java = findJava(17);
  const beside = path.join(path.dirname(java), 'keytool');
  return path.isAbsolute(java) && fs.existsSync(beside) ? beside : 'keytool';
}

function run(keytool: string, args: string[], input?: string): string {
  // C1 only and a serial GC: keytool runs for a moment, and a JVM's start dominates it.
  const result = spawnSync(keytool, ['-J-XX:TieredStopAtLevel=1', '-J-XX:+UseSerialGC', ...args], { encoding: 'utf8', input });
  if (result.error) throw new StackError(`could not run keytool (${result.error.message}): install a JDK 17+ and point JAVA_HOME at it`);
  if (result.status !== 0) throw new StackError(`keytool ${args[0]} failed: ${(result.stdout + result.stderr).trim()}`);
  return result.stdout;
}

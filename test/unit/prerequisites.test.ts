import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { checkJava, checkMaven, checkNode, checkPort, satisfiesEngines } from '../../src/dev/prerequisites';
import { isPortFree, portHolder } from '../../src/dev/ports';
import { StackError } from '../../src/errors';
import pkg from '../../package.json';
import { freePort } from '../helpers/free-port';

/** Another process listening on a loopback port, as a stray server on a developer's machine would be. */
async function strayServer(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', "const s = require('net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port))"], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
  return { child, port };
}

describe('the Node.js version against package.json engines', () => {
  const engines = pkg.engines.node;

  it.each([
    ['20.19.0', true],
    ['20.20.2', true],
    ['22.13.0', true],
    ['24.0.0', true],
    ['26.1.0', true],
    ['20.18.1', false],
    ['21.7.3', false],
    ['22.12.0', false],
    ['18.20.4', false],
    ['25.0.0', false],
    ['27.0.0', false],
  ])('%s satisfies the engines range: %s', (version, expected) => {
    expect(satisfiesEngines(version, engines)).toBe(expected);
  });

  it('accepts ">=" terms and a leading "v"', () => {
    expect(satisfiesEngines('v25.1.0', '>=20.19.0')).toBe(true);
    expect(satisfiesEngines('20.1.0', '>=20.19.0')).toBe(false);
  });

  it('names the running version, the range and the versions to install', () => {
    expect(checkNode(process.versions.node, engines)).toBeUndefined();
    expect(checkNode('18.20.4', engines)).toBe(
      `Node.js 18.20.4 is not one Tidings supports (package.json engines: "${engines}"): install Node.js 20.19+, 22.13+, 24 or 26, e.g. with nvm`,
    );
  });

  it('refuses a range it cannot read rather than passing it', () => {
    expect(() => satisfiesEngines('20.19.0', '~20.19.0')).toThrow(StackError);
    expect(() => satisfiesEngines('20.19.0', '~20.19.0')).toThrow('"~20.19.0" is not a ^X.Y.Z or >=X.Y.Z term');
  });
});

describe('Java and Maven', () => {
  it('finds this machine\'s JDK for Kafka and names what it found when none is new enough', () => {
    expect(checkJava('Kafka 4.4.0', 17)).toBeUndefined();
    const problem = checkJava('Some server', 99);
    expect(problem).toMatch(/^Some server needs Java 99\+: no Java 99\+ found \(looked at JAVA_HOME, PATH and \/usr\/lib\/jvm; found: .*\(\d+\).*\)\. Install a JDK 99\+ and point JAVA_HOME at it\.$/);
  });

  it('passes with mvn on the PATH and names the install when the command is missing', () => {
    expect(checkMaven(['Kafka 4.4.0'])).toBeUndefined();
    expect(checkMaven(['Kafka 4.4.0', 'PostgreSQL 17.5.0'], 'mvn-not-installed-here')).toBe(
      'Apache Maven is needed to download Kafka 4.4.0, PostgreSQL 17.5.0 from Maven Central, but "mvn-not-installed-here" is not on the PATH: ' +
        'install Maven 3.8+ (Debian/Ubuntu: apt-get install maven; macOS: brew install maven)',
    );
  });
});

describe('ports the stack needs', () => {
  it('a free port passes', async () => {
    const port = await freePort();
    expect(await isPortFree(port)).toBe(true);
    expect(await checkPort(port, 'a Kafka broker', 'stop it')).toBeUndefined();
  });

  it('a port held by another process is named with that process and the fix', async () => {
    const stray = await strayServer();
    try {
      expect(await isPortFree(stray.port)).toBe(false);
      const holder = await portHolder(stray.port);
      // Linux shows the process through /proc; elsewhere (or another user's process) only that something holds it.
      const description = process.platform === 'linux' ? `pid ${stray.child.pid} (${process.execPath} -e const s = require('net')` : 'another process';
      expect(holder?.description.startsWith(description)).toBe(true);
      expect(await checkPort(stray.port, 'a Kafka broker', 'stop it, or set TIDINGS_KAFKA_PORT to a free port')).toBe(
        `port ${stray.port} is held by ${holder!.description}, which is not a Kafka broker: stop it, or set TIDINGS_KAFKA_PORT to a free port`,
      );
    } finally {
      stray.child.kill();
    }
  });

  it("a port held by this very process is named too (the test's own socket)", async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      expect((await portHolder(port))?.description).toMatch(process.platform === 'linux' ? new RegExp(`^pid ${process.pid} \\(`) : /^another process/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Type } from 'avsc';
import { listEventDefinitions } from '../../src/events/catalog';
import { sampleEvent, seededRng } from '../../src/events/samples';
import { runTidings } from '../helpers/tidings-cli';

/**
 * What `npm pack` puts in the tarball and what each entry point of the built package loads.
 * The package is resolved by its own name from the repository (Node's package self-reference),
 * so the `exports` map is what decides what can be imported. The packed-tarball test installs
 * the same tarball in services outside the repository.
 */
const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  exports: Record<string, string | { types: string; default: string }>;
};

interface PackedFile {
  path: string;
  size: number;
}

let files: PackedFile[] = [];

beforeAll(async () => {
  // --dry-run still runs prepack: the tarball is always of a fresh build.
  const started = Date.now();
  const { stdout } = await run('npm', ['pack', '--dry-run', '--json'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout) as [{ filename: string; size: number; unpackedSize: number; files: PackedFile[] }];
  files = packed.files;
  console.log(`${packed.filename}: ${(packed.size / 1024).toFixed(0)} KiB packed, ${(packed.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${files.length} files (pack with build: ${Date.now() - started} ms)`);
}, 180_000);

/** Loads `script` in a fresh Node process in the repository and returns what it printed as JSON. */
async function inNode<T>(script: string, flags: string[] = []): Promise<T> {
  const { stdout } = await run(process.execPath, [...flags, '-e', script], { cwd: ROOT });
  return JSON.parse(stdout) as T;
}

/** Packages and Tidings files in require.cache after `require(specifier)`. */
async function modulesLoadedBy(specifier: string): Promise<string[]> {
  return inNode<string[]>(`
    require(${JSON.stringify(specifier)});
    console.log(JSON.stringify(Object.keys(require.cache).map((file) => {
      const dep = file.split('/node_modules/').pop();
      if (dep !== file) return dep.split('/').slice(0, dep.startsWith('@') ? 2 : 1).join('/');
      return require('node:path').relative(process.cwd(), file);
    })));`);
}

describe('the npm package', () => {
  it('holds the built JavaScript, declarations, source maps, migrations, templates, the Avro contract and the CLI, and nothing else', () => {
    const paths = files.map((f) => f.path);
    for (const entry of Object.values(pkg.exports)) {
      if (typeof entry === 'string') continue;
      expect(paths).toContain(entry.types.replace(/^\.\//, ''));
      expect(paths).toContain(entry.default.replace(/^\.\//, ''));
      expect(paths).toContain(`${entry.default.replace(/^\.\//, '')}.map`);
    }
    const migrations = fs.readdirSync(path.join(ROOT, 'migrations')).filter((f) => f.endsWith('.ts'));
    for (const migration of migrations) expect(paths).toContain(`dist/migrations/${migration.replace(/\.ts$/, '.js')}`);
    const schemas = fs.readdirSync(path.join(ROOT, 'schemas'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.avsc'));
    expect(schemas.length).toBeGreaterThan(15);
    for (const schema of schemas) expect(paths).toContain(`schemas/${schema}`);
    expect(paths).toEqual(expect.arrayContaining(['bin/tidings.cjs', 'package.json', 'README.md', 'CHANGELOG.md', 'dist/src/cli/main.js', 'dist/src/notifications/email/templates/en/manifest.json']));

    const allowed = /^(dist\/.+\.(js|js\.map|d\.ts|hbs|json|txt|html|css|mjml|md)|schemas\/.+\.avsc|bin\/tidings\.cjs|package\.json|README\.md|CHANGELOG\.md)$/;
    expect(paths.filter((p) => !allowed.test(p))).toEqual([]);
    const unwanted = /^(src|test|bench|examples|scripts|consumers|producers|migrations|\.tidings|\.ci|node_modules)\//;
    expect(paths.filter((p) => unwanted.test(p) || (p.endsWith('.ts') && !p.endsWith('.d.ts')))).toEqual([]);
  });

  it('declares its API without `any`', () => {
    const declarations = files.filter((f) => f.path.endsWith('.d.ts'));
    expect(declarations.length).toBeGreaterThan(50);
    const untyped = declarations.flatMap((f) =>
      fs
        .readFileSync(path.join(ROOT, f.path), 'utf8')
        .split('\n')
        .filter((line) => /(:\s*any\b|<any\b|\bany\[\])/.test(line))
        .map((line) => `${f.path}: ${line.trim()}`),
    );
    expect(untyped).toEqual([]);
  });

  it('publishes as it packs: `npm publish --dry-run` lists the same files', async () => {
    // The tarball was just built by the pack above; prepack need not run again.
    const { stdout, stderr } = await run('npm', ['publish', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
    expect(stderr).not.toMatch(/npm error/i);
    const report = (JSON.parse(stdout) as Record<string, { id: string; files: PackedFile[] }>).tidings;
    expect(report?.id).toBe(`tidings@${pkg.version}`);
    expect(report?.files.map((f) => f.path).sort()).toEqual(files.map((f) => f.path).sort());
  });

  it('exposes its entry points and nothing else: internals cannot be required', async () => {
    const result = await inNode<Record<string, string[] | string>>(`
      const out = {};
      for (const entry of ['tidings', 'tidings/producers/auth', 'tidings/producers/payment', 'tidings/consumers']) out[entry] = Object.keys(require(entry)).sort();
      try { require('tidings/dist/src/consumer/key-holds'); out.internal = 'loaded'; } catch (error) { out.internal = error.code; }
      console.log(JSON.stringify(out));`);
    expect(result.tidings).toEqual(expect.arrayContaining(['Platform', 'Publisher', 'Outbox', 'OutboxRelay', 'ConsumerRuntime', 'migrate', 'validateEvent', 'TidingsError', 'EventValidationError', 'ConfigError', 'AUTH_EVENT_TYPES', 'PAYMENT_EVENT_TYPES']));
    expect(result['tidings/producers/auth']).toEqual(['createAuthProducer']);
    expect(result['tidings/producers/payment']).toEqual(['createPaymentProducer']);
    expect(result['tidings/consumers']).toEqual(expect.arrayContaining(['startNotificationConsumer', 'startOutboxRelay', 'startAuditConsumer', 'startAnalyticsConsumer', 'startScheduler']));
    expect(result.internal).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('is importable from ECMAScript modules too, by name', async () => {
    const result = await inNode<Record<string, string>>(
      `import { Platform, migrate, EventValidationError } from 'tidings';
       import { createAuthProducer } from 'tidings/producers/auth';
       import { startNotificationConsumer } from 'tidings/consumers';
       console.log(JSON.stringify({ Platform: typeof Platform, migrate: typeof migrate, EventValidationError: typeof EventValidationError, createAuthProducer: typeof createAuthProducer, startNotificationConsumer: typeof startNotificationConsumer }));`,
      ['--input-type=module'],
    );
    expect(Object.values(result)).toEqual(Array(5).fill('function'));
  });

  it('loads no local-stack, fake-provider, provider-SDK or dev-tool code when a service imports the SDK', async () => {
    const devOnly = ['tsx', 'smtp-server', 'mailparser', 'jest'];
    const sdkNeverLoads = [...devOnly, 'twilio', 'firebase-admin', 'nodemailer', 'express', 'handlebars'];
    for (const entry of ['tidings', 'tidings/producers/auth', 'tidings/producers/payment']) {
      const loaded = await modulesLoadedBy(entry);
      expect(loaded.filter((m) => sdkNeverLoads.includes(m) || m.startsWith('dist/src/dev/') || m.startsWith('dist/src/cli/'))).toEqual([]);
      expect(loaded).toContain(entry === 'tidings' ? 'dist/src/index.js' : `dist/${entry.slice('tidings/'.length)}/index.js`);
    }
    // Running consumer groups loads the real providers, but still no local stack or dev tool.
    const consumers = await modulesLoadedBy('tidings/consumers');
    expect(consumers).toEqual(expect.arrayContaining(['twilio', 'firebase-admin', 'nodemailer']));
    expect(consumers.filter((m) => devOnly.includes(m) || m.startsWith('dist/src/dev/'))).toEqual([]);
  });

  it('the CLI outside `tidings dev` and `tidings demo` loads no local-stack or fake-provider code', async () => {
    // `schemas list` prints its table first; the last line is the list of offending modules.
    const { stdout } = await run(
      process.execPath,
      [
        '-e',
        `require('./dist/src/cli/main.js').main(['node', 'tidings', 'schemas', 'list']).then(() => {
           const files = Object.keys(require.cache).map((f) => require('node:path').relative(process.cwd(), f));
           console.log(JSON.stringify(files.filter((f) => f.startsWith('dist/src/dev/') || /node_modules\\/(smtp-server|mailparser|tsx)\\//.test(f))));
         });`,
      ],
      { cwd: ROOT },
    );
    const lines = stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThan(15);
    expect(JSON.parse(lines[lines.length - 1] ?? 'null')).toEqual([]);
  });
});

describe('the Avro contract for services in other languages', () => {
  it('`tidings schemas print --all --out DIR` writes self-contained .avsc files that decode what the SDK encodes', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-avsc-'));
    try {
      const result = await runTidings(['schemas', 'print', '--all', '--out', dir]);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const definitions = listEventDefinitions();
      expect(fs.readdirSync(dir).sort()).toEqual(definitions.map((d) => `${d.type}.avsc`).sort());
      const rng = seededRng(7);
      for (const def of definitions) {
        // Parsed on its own, with no other file: every named type it uses is inside it.
        const standalone = Type.forSchema(JSON.parse(fs.readFileSync(path.join(dir, `${def.type}.avsc`), 'utf8')));
        const event = sampleEvent(def.type, {}, rng);
        expect(standalone.fromBuffer(def.avroType.toBuffer(event))).toEqual(def.avroType.fromBuffer(def.avroType.toBuffer(event)));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('`tidings schemas print` names what is wrong with its arguments', async () => {
    const none = await runTidings(['schemas', 'print']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/name an event type .* or pass --all/);
    const unknown = await runTidings(['schemas', 'print', 'USER_REGISTERED', 'USER_DELETED']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown event type\(s\): USER_DELETED/);
    const one = await runTidings(['schemas', 'print', 'USER_REGISTERED']);
    expect(JSON.parse(one.stdout)).toEqual(listEventDefinitions().find((d) => d.type === 'USER_REGISTERED')?.schema);
  });
});

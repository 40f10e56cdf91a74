/**
 * Summarises V8 CPU profiles (`node --cpu-prof`) as the tables docs/performance.md quotes:
 * self time per part of the code (a package under node_modules, a folder of src/, Node's
 * internals, garbage collection, idle) and per function.
 *
 *   npx tsx bench/profile-summary.ts /tmp/prof/CPU.*.cpuprofile [--top 25] [--json]
 *
 * Each file is summarised on its own (one per process: the bench, its worker children).
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Share {
  name: string;
  ms: number;
  percent: number;
}

export interface ProfileSummary {
  file: string;
  wallMs: number;
  byPart: Share[];
  byFunction: Share[];
}

const ROOT = path.resolve(__dirname, '..');

/** Which part of the code a frame's URL belongs to. */
export function partOf(functionName: string, url: string): string {
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(idle)') return 'idle (waiting on I/O)';
  if (functionName === '(program)') return 'V8 and native code';
  if (url === '') return 'V8 and native code';
  if (url.startsWith('node:')) return 'Node.js internals';
  const file = url.replace(/^file:\/\//, '');
  const modules = file.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = file.slice(modules + '/node_modules/'.length).split('/');
    return `node_modules/${rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const relative = path.relative(ROOT, file);
  if (relative.startsWith('..')) return file;
  const parts = relative.split(path.sep);
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : relative;
}

function shares(totals: Map<string, number>, wallMs: number, top: number): Share[] {
  return [...totals.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), percent: Math.round((1000 * ms) / wallMs) / 10 }));
}

export function summarise(file: string, top = 25): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  if (!Array.isArray(profile.nodes) || !Array.isArray(profile.samples) || !Array.isArray(profile.timeDeltas)) {
    throw new Error(`${file} is not a V8 CPU profile (no nodes, samples and timeDeltas)`);
  }
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byPart = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = nodes.get(profile.samples[i]!);
    if (!node) continue;
    // A sample's time is the delta to the next one.
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const { functionName, url, lineNumber } = node.callFrame;
    const part = partOf(functionName, url);
    byPart.set(part, (byPart.get(part) ?? 0) + ms);
    const where = url ? `${partOf('', url)}:${path.basename(url)}:${lineNumber + 1}` : 'native';
    const name = `${functionName || '(anonymous)'} ${where}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
  }
  const wallMs = (profile.endTime - profile.startTime) / 1000;
  return { file, wallMs: Math.round(wallMs), byPart: shares(byPart, wallMs, top), byFunction: shares(byFunction, wallMs, top) };
}

function print(summary: ProfileSummary): void {
  console.log(`\n${summary.file}: ${(summary.wallMs / 1000).toFixed(1)} s of wall time`);
  for (const [title, rows] of [['by part of the code (self time)', summary.byPart], ['by function (self time)', summary.byFunction]] as const) {
    console.log(`  ${title}`);
    for (const r of rows) console.log(`    ${r.percent.toFixed(1).padStart(5)} %  ${String(r.ms).padStart(7)} ms  ${r.name}`);
  }
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const files = args.filter((a, i) => !a.startsWith('--') && !(topAt >= 0 && i === topAt + 1));
  if (files.length === 0 || !Number.isInteger(top) || top < 1) {
    console.error('usage: npx tsx bench/profile-summary.ts <file.cpuprofile>… [--top N] [--json]');
    process.exit(2);
  }
  const summaries = files.map((f) => summarise(f, top));
  if (json) console.log(JSON.stringify(summaries, null, 2));
  else summaries.forEach(print);
}

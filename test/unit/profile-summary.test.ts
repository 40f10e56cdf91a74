import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { partOf, summarise } from '../../bench/profile-summary';

const root = path.resolve(__dirname, '../..');

describe('bench/profile-summary: where a CPU profile spent its time', () => {
  it('names the part of the code of a frame: a package, a folder of src/, Node, GC, idle', () => {
    expect(partOf('encode', `file://${root}/node_modules/kafkajs/src/protocol/encoder.js`)).toBe('node_modules/kafkajs');
    expect(partOf('x', `${root}/node_modules/@opentelemetry/api/build/index.js`)).toBe('node_modules/@opentelemetry/api');
    expect(partOf('decodeEvent', `file://${root}/src/consumer/chunk-processor.ts`)).toBe('src/consumer');
    expect(partOf('readFile', 'node:fs')).toBe('Node.js internals');
    expect(partOf('(garbage collector)', '')).toBe('garbage collection');
    expect(partOf('(idle)', '')).toBe('idle (waiting on I/O)');
  });

  it('adds up self time per part and per function, largest first, as shares of the wall time', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tidings-prof-')), 'CPU.test.cpuprofile');
    const frame = (id: number, functionName: string, url: string): object => ({ id, callFrame: { functionName, url, lineNumber: 9, columnNumber: 0, scriptId: '0' } });
    fs.writeFileSync(
      file,
      JSON.stringify({
        nodes: [frame(1, '(root)', ''), frame(2, 'encode', `file://${root}/node_modules/kafkajs/src/encoder.js`), frame(3, '(idle)', '')],
        // Samples: encode 30 ms, idle 10 ms (a sample's time is the delta to the next).
        samples: [2, 2, 3, 2],
        timeDeltas: [0, 10_000, 20_000, 10_000],
        startTime: 0,
        endTime: 40_000,
      }),
    );
    const summary = summarise(file);
    expect(summary.wallMs).toBe(40);
    expect(summary.byPart).toEqual([
      { name: 'node_modules/kafkajs', ms: 30, percent: 75 },
      { name: 'idle (waiting on I/O)', ms: 10, percent: 25 },
    ]);
    expect(summary.byFunction[0]).toEqual({ name: 'encode node_modules/kafkajs:encoder.js:10', ms: 30, percent: 75 });
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });

  it('refuses a file that is not a CPU profile, naming it', () => {
    const file = path.join(os.tmpdir(), `tidings-not-a-profile-${process.pid}.json`);
    fs.writeFileSync(file, '{"traceEvents": []}');
    expect(() => summarise(file)).toThrow(`${file} is not a V8 CPU profile`);
    fs.rmSync(file);
  });
});

/** One sample of a Prometheus text exposition: `name{labels} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function unescape(value: string): string {
  return value.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** Parses the Prometheus text format (0.0.4): every sample, comments and HELP/TYPE lines skipped. Throws on a line it cannot read. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const [, name, body = '', value = ''] = match;
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    let consumed = 0;
    for (let m = LABEL.exec(body); m; m = LABEL.exec(body)) {
      labels[m[1] as string] = unescape(m[2] as string);
      consumed = LABEL.lastIndex;
    }
    if (consumed !== body.length) throw new Error(`unreadable labels in: ${line}`);
    samples.push({ name: name as string, labels, value: parseValue(value) });
  }
  return samples;
}

/** The samples of one scrape, queried like a tiny PromQL: a name and a subset of labels. */
export class Scrape {
  constructor(readonly samples: readonly Sample[]) {}

  /** Samples of `name` whose labels include `labels`. */
  series(name: string, labels: Record<string, string> = {}): Sample[] {
    return this.samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  }

  /** Sum of the matching samples' values; 0 when none match (a counter not yet created). */
  sum(name: string, labels: Record<string, string> = {}): number {
    return this.series(name, labels).reduce((total, s) => total + s.value, 0);
  }

  has(name: string, labels: Record<string, string> = {}): boolean {
    return this.series(name, labels).length > 0;
  }
}

/** GETs `url` (a `/metrics` endpoint) and parses it; throws unless it answers 200 in the Prometheus text format. */
export async function scrape(url: string): Promise<Scrape> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${text.slice(0, 200)}`);
  if (!/^text\/plain; version=0\.0\.4/.test(response.headers.get('content-type') ?? '')) throw new Error(`GET ${url}: content-type ${response.headers.get('content-type')}`);
  return new Scrape(parsePrometheusText(text));
}

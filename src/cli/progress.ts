/**
 * Progress of long operator commands (replay, redrive), on stderr so stdout stays the result:
 * a bar with rate and ETA redrawn in place on a terminal; otherwise (CI, pipes, `--json`) one
 * JSON line at most every second and one at the end, for scripts and logs.
 */
export interface Progress {
  /** `n` more items done (default 1). */
  tick(n?: number): void;
  /** Prints the final line; `summary` is added to it. */
  done(summary?: object): void;
}

export interface ProgressOptions {
  label: string;
  /** Items expected, when known: gives a percentage and an ETA. */
  total?: number;
  /** JSON lines even on a terminal. */
  json?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Milliseconds between two lines or redraws. Default 1000 (100 on a terminal). */
  intervalMs?: number;
  now?: () => number;
}

const BAR_WIDTH = 24;

export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const terminal = Boolean(stream.isTTY) && !options.json;
  const interval = options.intervalMs ?? (terminal ? 100 : 1000);
  const started = now();
  let done = 0;
  let lastWrite = 0;

  const state = () => {
    const elapsedS = Math.max((now() - started) / 1000, 0.001);
    const rate = done / elapsedS;
    const total = options.total;
    const etaSeconds = total !== undefined && rate > 0 ? Math.max(0, Math.round((total - done) / rate)) : undefined;
    return { progress: options.label, done, ...(total === undefined ? {} : { total }), rate: Math.round(rate * 10) / 10, elapsedSeconds: Math.round(elapsedS), ...(etaSeconds === undefined ? {} : { etaSeconds }) };
  };

  const render = (final: boolean, summary?: object): void => {
    const s = state();
    if (!terminal) {
      stream.write(`${JSON.stringify(final ? { ...s, finished: true, ...summary } : s)}\n`);
      return;
    }
    const total = options.total;
    const bar = total ? `[${'#'.repeat(Math.round((Math.min(done, total) / total) * BAR_WIDTH)).padEnd(BAR_WIDTH, '.')}] ${Math.floor((Math.min(done, total) / total) * 100)}% ` : '';
    const eta = s.etaSeconds === undefined || final ? '' : ` ETA ${formatSeconds(s.etaSeconds)}`;
    const line = `${options.label} ${bar}${done}${total === undefined ? '' : `/${total}`} ${s.rate}/s${eta}${final ? ` in ${formatSeconds(s.elapsedSeconds)}` : ''}`;
    stream.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
  };

  return {
    tick(n = 1) {
      done += n;
      const t = now();
      if (t - lastWrite >= interval) {
        lastWrite = t;
        render(false);
      }
    },
    done(summary) {
      render(true, summary);
    },
  };
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * The scheduler's notion of "now". Every due-time decision reads it, so tests (and replays)
 * can move time by days without waiting. Leases use the database clock instead: they
 * measure whether a process is still alive, which is real elapsed time.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to; shared by every scheduler instance of a test. */
export class ManualClock implements Clock {
  private current: number;

  constructor(start: number | Date) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }

  now(): number {
    return this.current;
  }

  set(to: number | Date): void {
    this.current = typeof to === 'number' ? to : to.getTime();
  }

  advance(ms: number): void {
    this.current += ms;
  }
}

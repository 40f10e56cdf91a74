import { kafkaErrorType } from '../kafka/broker-errors';
import type { Logger } from '../observability/logger';

/**
 * Where this member stands in its group while a chunk is processed:
 * - `member`: it owns its partitions;
 * - `rebalancing`: the group is rebalancing; it still owns them (and may commit) until it rejoins;
 * - `fenced`: its generation is over (evicted, or a rebalance went on without it): its
 *   partitions may already be another member's, so it must not commit for them.
 */
export type Membership = 'member' | 'rebalancing' | 'fenced';

/** Broker answers meaning this member's generation has ended. */
const GENERATION_ENDED = new Set(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE_ID']);

/**
 * kafkajs 2.x sends heartbeats only between batches, so a chunk that takes longer than the
 * session timeout (500 emails to a slow provider) gets its member evicted mid-chunk and its
 * partitions handed to another instance. This beats every `intervalMs` while a chunk runs and
 * records what the broker says about the membership.
 */
export class ChunkHeartbeat {
  private state: Membership = 'member';
  private readonly ended = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly heartbeat: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    /** The runtime's stop signal. */
    private readonly stopping: AbortSignal,
  ) {}

  /** Aborted once the runtime stops, the group rebalances or the member is fenced: the chunk's waits (outage backoff) end. */
  get signal(): AbortSignal {
    return this.ended.signal;
  }

  get membership(): Membership {
    return this.state;
  }

  start(): this {
    if (this.stopping.aborted) this.ended.abort();
    else this.stopping.addEventListener('abort', this.onStopping, { once: true });
    this.schedule();
    return this;
  }

  /** Stops beating (after the beat in flight, if any) and says where the member stands. */
  async stop(): Promise<Membership> {
    this.stopped = true;
    this.stopping.removeEventListener('abort', this.onStopping);
    clearTimeout(this.timer);
    await this.beating;
    return this.state;
  }

  private readonly onStopping = (): void => this.ended.abort();

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.beating = this.beat().finally(() => {
        this.beating = undefined;
        if (!this.stopped && this.state !== 'fenced') this.schedule();
      });
    }, this.intervalMs);
  }

  private async beat(): Promise<void> {
    try {
      await this.heartbeat();
    } catch (error) {
      const type = kafkaErrorType(error);
      if (type === 'REBALANCE_IN_PROGRESS') {
        // Heartbeats go on: they keep the member in the group until it rejoins after this chunk.
        if (this.state === 'member') this.logger.info('the group is rebalancing: finishing the chunk in progress, then rejoining');
        this.state = 'rebalancing';
        this.ended.abort();
      } else if (type !== undefined && GENERATION_ENDED.has(type)) {
        this.logger.warn({ type }, 'this member lost its partitions mid-chunk: the chunk finishes but is not committed');
        this.state = 'fenced';
        this.ended.abort();
      } else {
        // A transient failure (connection, coordinator moving): the next beat tries again.
        this.logger.debug({ type, error: error instanceof Error ? error.message : String(error) }, 'heartbeat failed');
      }
    }
  }
}

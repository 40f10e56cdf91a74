import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { ConfigError } from '../errors';
import type { Logger } from '../observability/logger';

/** The channel the outbox trigger notifies (migrations/002_outbox.ts); shared by every schema of a database. */
export const OUTBOX_CHANNEL = 'tidings_outbox';

/**
 * First keys of the two-key advisory locks the relays of one schema take. Advisory locks are
 * per database, so they are derived from the schema name: relays of two Tidings schemas in one
 * database neither count each other nor hold each other's buckets. Other users of advisory
 * locks in the same database must not use them.
 */
function lockNamespaces(schema: string): { member: number; bucket: number } {
  const key = (role: string): number => createHash('sha256').update(`tidings outbox relay ${role} ${schema}`).digest().readUInt32BE(0) >>> 1;
  return { member: key('member'), bucket: key('bucket') };
}

export interface RelaySessionOptions {
  databaseUrl: string;
  /** The schema whose outbox the relay publishes. */
  schema: string;
  buckets: number;
  onNotification: () => void;
  /** The connection died: its locks are gone, so the relay owns no bucket any more. */
  onLost: (error: unknown) => void;
  logger: Logger;
}

interface LockRow {
  ns: string;
  key: string;
  pid: number;
}

/**
 * A relay's dedicated PostgreSQL connection. It LISTENs for new outbox rows and holds the
 * session-level advisory locks that make the relay the only publisher of its buckets; when
 * the connection dies (relay killed, network lost), PostgreSQL frees the locks with it and
 * other relays take the buckets over.
 *
 * Every relay also holds a shared "member" lock whose second key is its bucket count: it
 * counts the relays for rebalancing and refuses to mix relays that split keys differently
 * (two such relays could publish the same key at once).
 */
export class RelaySession {
  private readonly held = new Set<number>();
  private readonly ended: Promise<void>;
  private readonly lock: { member: number; bucket: number };
  private dead = false;

  private constructor(
    private readonly client: Client,
    private readonly options: RelaySessionOptions,
  ) {
    this.ended = new Promise((resolve) => client.once('end', () => resolve()));
    this.lock = lockNamespaces(options.schema);
  }

  static async open(options: RelaySessionOptions): Promise<RelaySession> {
    const client = new Client({
      connectionString: options.databaseUrl,
      keepAlive: true,
      connectionTimeoutMillis: 5_000,
      application_name: 'tidings-outbox-relay',
    });
    const session = new RelaySession(client, options);
    client.on('error', (error) => session.lost(error));
    client.on('end', () => session.lost(new Error('connection ended')));
    client.on('notification', (message) => {
      if (message.channel === OUTBOX_CHANNEL) options.onNotification();
    });
    try {
      await client.connect();
      await client.query('SELECT pg_advisory_lock_shared($1, $2)', [session.lock.member, options.buckets]);
      const others = await session.locks(session.lock.member);
      const conflicting = others.find((l) => Number(l.key) !== options.buckets);
      if (conflicting) {
        throw new ConfigError(
          `another outbox relay of schema "${options.schema}" (pid ${conflicting.pid}) splits keys into ${conflicting.key} buckets, this one into ${options.buckets}; ` +
            'every relay of a schema must use the same number',
        );
      }
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** The buckets this relay may publish, ascending. */
  get buckets(): number[] {
    return [...this.held].sort((a, b) => a - b);
  }

  /**
   * Moves this relay towards its fair share, ceil(buckets / relays): releases the excess, or
   * tries to lock buckets nobody holds. A bucket is only released between batches (the relay
   * calls this before reading), so its rows are marked published before another relay can
   * read them; and with ceil, the shares of all relays always cover every bucket.
   */
  async rebalance(): Promise<void> {
    const rows = await this.locks(this.lock.member, this.lock.bucket);
    const relays = new Set(rows.filter((r) => Number(r.ns) === this.lock.member).map((r) => r.pid)).size;
    const share = Math.ceil(this.options.buckets / Math.max(1, relays));
    const taken = new Set(rows.filter((r) => Number(r.ns) === this.lock.bucket).map((r) => Number(r.key)));

    for (const bucket of this.buckets.reverse()) {
      if (this.held.size <= share) break;
      await this.client.query('SELECT pg_advisory_unlock($1, $2)', [this.lock.bucket, bucket]);
      this.held.delete(bucket);
      this.options.logger.debug({ bucket }, 'released outbox bucket');
    }
    // A random starting bucket keeps relays that start together from racing for the same ones.
    const start = Math.floor(Math.random() * this.options.buckets);
    for (let i = 0; i < this.options.buckets && this.held.size < share; i++) {
      const bucket = (start + i) % this.options.buckets;
      if (taken.has(bucket)) continue;
      const result = await this.client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [this.lock.bucket, bucket]);
      if (result.rows[0]?.ok) {
        this.held.add(bucket);
        this.options.logger.debug({ bucket }, 'took outbox bucket');
      }
    }
  }

  /** Ends the connection, which releases every lock it holds. Idempotent. */
  async close(): Promise<void> {
    this.dead = true;
    this.held.clear();
    // pg's end() never settles when the socket has already closed on its own (server
    // terminated the backend), so the connection's own end event settles it too.
    await Promise.race([this.client.end().catch(() => undefined), this.ended]);
  }

  private lost(error: unknown): void {
    if (this.dead) return;
    this.dead = true;
    this.held.clear();
    this.options.onLost(error);
  }

  private async locks(...namespaces: number[]): Promise<LockRow[]> {
    const result = await this.client.query<LockRow>(
      `SELECT classid::int8::text AS ns, objid::int8::text AS key, pid
         FROM pg_locks
        WHERE locktype = 'advisory' AND granted AND objsubid = 2
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND classid::int8 = ANY($1::int8[])`,
      [namespaces],
    );
    return result.rows;
  }
}

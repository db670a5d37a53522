/**
 * Leases: who in a cluster does a piece of work nobody else may do at the same time — the scheduled
 * sweeps (SLA timers, escalations, broadcast schedules, pruning) and each ingest slot (an MQTT
 * session of the share group, see ingest-slots.ts).
 *
 * A lease is a session-level PostgreSQL advisory lock on a connection of its own. The lock lives
 * exactly as long as that connection: a hub that dies (SIGKILL, power, network) loses its TCP
 * connection, PostgreSQL ends the backend and releases the lock, and another hub's next poll takes
 * it. No clocks or expiry times are compared, so clock skew between hubs cannot make two holders.
 *
 * The connection is named `qlyleases-<hubId>` in pg_stat_activity; counting those is how a hub
 * knows how many hubs are alive (ingest slots are shared out by it). Any error on the connection
 * drops every lease this hub believed it held: a reconnected backend holds no locks.
 *
 * One hub on SQLite holds every lease (there is nobody to share with).
 */
import type { FastifyBaseLogger } from 'fastify';
import { PostgresDatabase, type PostgresOptions } from '../stores/sql.ts';

export const LEASE_CONNECTION_PREFIX = 'qlyleases-';

export interface Leases {
  /** Whether this hub holds the lease now. */
  holds(name: string): boolean;
  /** Takes the lease when nobody holds it; true when this hub holds it afterwards. */
  tryTake(name: string): boolean;
  release(name: string): void;
  /** Hubs alive in the cluster (this one included). */
  liveHubs(): number;
  /** Verifies the leases are still held (the connection may have been replaced); drops them if not. */
  check(): void;
  close(): void;
}

/** The single hub: every lease is its own. */
export class LocalLeases implements Leases {
  holds(): boolean {
    return true;
  }
  tryTake(): boolean {
    return true;
  }
  release(): void {}
  liveHubs(): number {
    return 1;
  }
  check(): void {}
  close(): void {}
}

export class PostgresLeases implements Leases {
  private readonly db: PostgresDatabase;
  private readonly held = new Set<string>();

  constructor(
    options: Omit<PostgresOptions, 'applicationName'>,
    hubId: string,
    private readonly log: FastifyBaseLogger,
  ) {
    this.db = new PostgresDatabase({ ...options, applicationName: `${LEASE_CONNECTION_PREFIX}${hubId}` });
  }

  holds(name: string): boolean {
    return this.held.has(name);
  }

  tryTake(name: string): boolean {
    if (this.held.has(name)) return true;
    const row = this.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
      `qly:lease:${name}`,
    ]);
    if (row?.ok) {
      this.held.add(name);
      this.log.info({ lease: name }, 'lease taken');
    }
    return this.held.has(name);
  }

  release(name: string): void {
    if (!this.held.delete(name)) return;
    this.query('SELECT pg_advisory_unlock(hashtext($1))', [`qly:lease:${name}`]);
    this.log.info({ lease: name }, 'lease released');
  }

  liveHubs(): number {
    const row = this.query<{ n: number }>(
      'SELECT count(DISTINCT application_name) AS n FROM pg_stat_activity WHERE application_name LIKE $1',
      [`${LEASE_CONNECTION_PREFIX}%`],
    );
    return Math.max(1, Number(row?.n ?? 1));
  }

  check(): void {
    if (this.held.size === 0) return;
    const row = this.query<{ n: number }>(
      "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted AND $1 <> ''",
      ['x'],
    );
    if (row && Number(row.n) < this.held.size) {
      this.log.error({ leases: [...this.held] }, 'leases lost with the connection');
      this.held.clear();
    }
  }

  close(): void {
    this.held.clear();
    this.db.close();
  }

  private query<R>(text: string, values: string[]): R | undefined {
    try {
      return this.db.query(text, values)[0] as R | undefined;
    } catch (err) {
      // The backend may be gone, and its locks with it: claim nothing until taken again.
      if (this.held.size > 0) this.log.error({ err, leases: [...this.held] }, 'lease connection failed');
      this.held.clear();
      return undefined;
    }
  }
}

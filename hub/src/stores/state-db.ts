/**
 * The hub's embedded state database (SQLite, WAL): users, gateway credentials, the device registry
 * and (later) commands, sessions and the audit log. PostgreSQL takes this role when several hubs share state.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DeviceMeta } from '@qianliyan/protocols';
import Database from 'better-sqlite3';

export const ROLES = ['admin', 'duty_officer', 'village_operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface UserRow {
  username: string;
  passwordHash: string;
  role: Role;
  /** Sites a village operator is limited to; empty means all sites. */
  sites: string[];
  createdAt: number;
}

export interface GatewayRow {
  id: string;
  site: string;
  passwordHash: string | null;
  createdAt: number;
}

export interface DeviceRow {
  gateway: string;
  device: string;
  site: string;
  meta: Omit<DeviceMeta, 'seq' | 'epoch' | 'ts'>;
  metaSeq: number;
  updatedAt: number;
}

const MIGRATIONS = [
  `CREATE TABLE users (
     username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,
     sites TEXT NOT NULL DEFAULT '[]', created_at INTEGER NOT NULL);
   CREATE TABLE gateways (
     id TEXT PRIMARY KEY, site TEXT NOT NULL, password_hash TEXT, created_at INTEGER NOT NULL);
   CREATE TABLE devices (
     gateway TEXT NOT NULL, device TEXT NOT NULL, site TEXT NOT NULL, meta TEXT NOT NULL,
     meta_seq INTEGER NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (gateway, device));
   CREATE TABLE seq_marks (gateway TEXT PRIMARY KEY, epoch TEXT, high_water INTEGER NOT NULL);`,
  // Dedup marks moved to the time-series store, where they commit with the rows they cover.
  'DROP TABLE seq_marks;',
];

export class StateDb {
  private readonly db: Database.Database;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.db = new Database(path);
    if (path !== ':memory:') chmodSync(path, 0o600);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.migrate();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v] as string);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    this.db.close();
  }

  // users
  countUsers(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
  }

  getUser(username: string): UserRow | undefined {
    const row = this.db.prepare('SELECT * FROM users WHERE username = ?').get(username) as
      | Record<string, unknown>
      | undefined;
    return row ? toUser(row) : undefined;
  }

  listUsers(): UserRow[] {
    return (
      this.db.prepare('SELECT * FROM users ORDER BY username').all() as Array<Record<string, unknown>>
    ).map(toUser);
  }

  /** Returns false if the username is taken. */
  createUser(user: Omit<UserRow, 'createdAt'>): boolean {
    const result = this.db
      .prepare(
        'INSERT OR IGNORE INTO users (username, password_hash, role, sites, created_at) VALUES (?, ?, ?, ?, ?)',
      )
      .run(user.username, user.passwordHash, user.role, JSON.stringify(user.sites), Date.now());
    return result.changes === 1;
  }

  // gateways
  getGateway(id: string): GatewayRow | undefined {
    const row = this.db.prepare('SELECT * FROM gateways WHERE id = ?').get(id) as
      | Record<string, unknown>
      | undefined;
    return row ? toGateway(row) : undefined;
  }

  listGateways(): GatewayRow[] {
    return (
      this.db.prepare('SELECT * FROM gateways ORDER BY id').all() as Array<Record<string, unknown>>
    ).map(toGateway);
  }

  /** Creates or re-keys a gateway's credentials. */
  upsertGateway(id: string, site: string, passwordHash: string | null): void {
    this.db
      .prepare(
        `INSERT INTO gateways (id, site, password_hash, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET site = excluded.site, password_hash = coalesce(excluded.password_hash, gateways.password_hash)`,
      )
      .run(id, site, passwordHash, Date.now());
  }

  // devices
  listDevices(): DeviceRow[] {
    return (this.db.prepare('SELECT * FROM devices').all() as Array<Record<string, unknown>>).map((r) => ({
      gateway: r.gateway as string,
      device: r.device as string,
      site: r.site as string,
      meta: JSON.parse(r.meta as string),
      metaSeq: r.meta_seq as number,
      updatedAt: r.updated_at as number,
    }));
  }

  upsertDevice(row: DeviceRow): void {
    this.db
      .prepare(
        `INSERT INTO devices (gateway, device, site, meta, meta_seq, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(gateway, device) DO UPDATE SET site = excluded.site, meta = excluded.meta,
           meta_seq = excluded.meta_seq, updated_at = excluded.updated_at`,
      )
      .run(row.gateway, row.device, row.site, JSON.stringify(row.meta), row.metaSeq, row.updatedAt);
  }

  deleteDevicesOf(gateway: string): void {
    this.db.prepare('DELETE FROM devices WHERE gateway = ?').run(gateway);
  }

  deleteGateway(id: string): boolean {
    return this.db.prepare('DELETE FROM gateways WHERE id = ?').run(id).changes === 1;
  }
}

function toUser(r: Record<string, unknown>): UserRow {
  return {
    username: r.username as string,
    passwordHash: r.password_hash as string,
    role: r.role as Role,
    sites: JSON.parse(r.sites as string),
    createdAt: r.created_at as number,
  };
}

function toGateway(r: Record<string, unknown>): GatewayRow {
  return {
    id: r.id as string,
    site: r.site as string,
    passwordHash: (r.password_hash as string | null) ?? null,
    createdAt: r.created_at as number,
  };
}

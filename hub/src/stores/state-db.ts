/**
 * The hub's state database: users, sessions, gateway credentials, the device registry, commands, and
 * the tables the services keep here (audit, alarms, clips, broadcasts, sites, incidents, calls,
 * settings). Embedded SQLite (WAL) for one hub; PostgreSQL when several hubs share state — the same
 * code through one `SqlDatabase` (sql.ts), each with its own versioned migrations (state-schema.ts),
 * one contract suite for both (tests/state-contract.test.ts).
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DeviceMeta, Role } from '@qianliyan/protocols';
import Database from 'better-sqlite3';
import { type SqlDatabase, SqliteDatabase } from './sql.ts';
import { migratePostgres } from './state-schema.ts';

export interface UserRow {
  username: string;
  passwordHash: string;
  role: Role;
  /** Sites a village operator is limited to; empty means all sites. */
  sites: string[];
  disabled: boolean;
  createdAt: number;
}

export interface SessionRow {
  id: string;
  username: string;
  createdAt: number;
  expiresAt: number;
  revokedAt: number | null;
  address: string | null;
}

export type CommandStatus = 'sent' | 'ok' | 'error' | 'timeout';

export interface CommandRow {
  id: string;
  username: string;
  site: string;
  gateway: string;
  device: string | null;
  action: string;
  params: Record<string, unknown>;
  status: CommandStatus;
  createdAt: number;
  deadline: number;
  finishedAt: number | null;
  /** `{data}` for ok, `{error: {code, message}}` for error and timeout. */
  result: Record<string, unknown> | null;
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

/** SQLite's migrations, versioned by `user_version`; PostgreSQL's are in state-schema.ts. */
export const MIGRATIONS = [
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
  `ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE sessions (
     id TEXT PRIMARY KEY, username TEXT NOT NULL, created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL, revoked_at INTEGER, address TEXT);
   CREATE INDEX sessions_username ON sessions (username);
   CREATE TABLE audit (
     seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
     target TEXT, outcome TEXT NOT NULL, detail TEXT NOT NULL, prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
   CREATE TABLE commands (
     id TEXT PRIMARY KEY, username TEXT NOT NULL, site TEXT NOT NULL, gateway TEXT NOT NULL, device TEXT,
     action TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL,
     deadline INTEGER NOT NULL, finished_at INTEGER, result TEXT);
   CREATE INDEX commands_target ON commands (gateway, device, created_at);`,
  `CREATE TABLE alarms (
     id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, count INTEGER NOT NULL,
     site TEXT NOT NULL, device TEXT NOT NULL, type TEXT NOT NULL, severity TEXT NOT NULL, data TEXT,
     acked_by TEXT, acked_at INTEGER);
   CREATE INDEX alarms_open ON alarms (acked_at, id);
   CREATE INDEX alarms_device ON alarms (device, type, last_ts);`,
  `CREATE TABLE clips (
     hash TEXT PRIMARY KEY, name TEXT NOT NULL, bytes INTEGER NOT NULL, duration_ms INTEGER NOT NULL,
     uploaded_by TEXT NOT NULL, uploaded_at INTEGER NOT NULL);
   CREATE TABLE broadcasts (
     id TEXT PRIMARY KEY, created_by TEXT NOT NULL, created_at INTEGER NOT NULL, body TEXT NOT NULL,
     state TEXT NOT NULL, next_at INTEGER, sites TEXT NOT NULL, speakers TEXT NOT NULL);
   CREATE INDEX broadcasts_created ON broadcasts (created_at);
   CREATE INDEX broadcasts_due ON broadcasts (state, next_at);`,
  `CREATE TABLE sites (
     id TEXT PRIMARY KEY, name TEXT NOT NULL, level TEXT NOT NULL, parent TEXT, center TEXT, boundary TEXT);
   CREATE INDEX sites_parent ON sites (parent);`,
  `CREATE TABLE incidents (
     id INTEGER PRIMARY KEY, title TEXT NOT NULL, category TEXT NOT NULL, priority TEXT NOT NULL,
     status TEXT NOT NULL, source TEXT NOT NULL, site TEXT NOT NULL, owner TEXT NOT NULL, lat REAL, lon REAL,
     description TEXT NOT NULL, devices TEXT NOT NULL, attachments TEXT NOT NULL, alarm INTEGER,
     assignee TEXT, feedback TEXT, created_at INTEGER NOT NULL, created_by TEXT NOT NULL,
     updated_at INTEGER NOT NULL, accept_due INTEGER NOT NULL, accept_warned INTEGER, accept_breached INTEGER,
     accepted_at INTEGER, first_accepted_at INTEGER, resolve_due INTEGER NOT NULL, resolve_warned INTEGER,
     resolve_breached INTEGER, resolved_at INTEGER, closed_at INTEGER);
   CREATE INDEX incidents_status ON incidents (status, id);
   CREATE INDEX incidents_site ON incidents (site, created_at);
   CREATE INDEX incidents_alarm ON incidents (alarm);
   CREATE TABLE incident_events (
     id INTEGER PRIMARY KEY, incident INTEGER NOT NULL, ts INTEGER NOT NULL, actor TEXT NOT NULL,
     action TEXT NOT NULL, from_status TEXT, to_status TEXT, note TEXT, data TEXT);
   CREATE INDEX incident_events_incident ON incident_events (incident, id);
   CREATE TABLE calls (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, body TEXT NOT NULL);
   CREATE INDEX calls_created ON calls (created_at);
   CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER NOT NULL);`,
  // Whether any deadline of an incident was ever missed (a level's timer restarts on escalation).
  'ALTER TABLE incidents ADD COLUMN late INTEGER NOT NULL DEFAULT 0;',
  // Whose clips: the sites the uploaders' scopes covered ('[]' = uploaded by an unscoped officer).
  "ALTER TABLE clips ADD COLUMN sites TEXT NOT NULL DEFAULT '[]';",
  // The events each alarm counted, by their identity at the gateway: a message delivered twice (to
  // two hubs, or again after a crash) counts once.
  `CREATE TABLE alarm_events (
     gateway TEXT NOT NULL, epoch TEXT NOT NULL, seq INTEGER NOT NULL, alarm INTEGER NOT NULL,
     PRIMARY KEY (gateway, epoch, seq));
   CREATE INDEX alarm_events_alarm ON alarm_events (alarm);`,
  // Issue 20, the alarm centre: alarm states (active → acknowledged → cleared), sources (events,
  // device health, rules on readings), the level handling it (escalation), re-notification, the
  // outage's duration, the incident opened from it; each alarm's timeline; device health
  // transitions (the availability report); rules on readings; notification subscriptions and the
  // delivery log (its unique key is the dedup: one delivery per alarm, subscription and step).
  `ALTER TABLE alarms ADD COLUMN source TEXT NOT NULL DEFAULT 'event';
   ALTER TABLE alarms ADD COLUMN state TEXT NOT NULL DEFAULT 'active';
   ALTER TABLE alarms ADD COLUMN owner TEXT NOT NULL DEFAULT '';
   ALTER TABLE alarms ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE alarms ADD COLUMN escalated_at INTEGER;
   ALTER TABLE alarms ADD COLUMN reason TEXT;
   ALTER TABLE alarms ADD COLUMN rule INTEGER;
   ALTER TABLE alarms ADD COLUMN ack_note TEXT;
   ALTER TABLE alarms ADD COLUMN cleared_at INTEGER;
   ALTER TABLE alarms ADD COLUMN duration_ms INTEGER;
   ALTER TABLE alarms ADD COLUMN notified_at INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE alarms ADD COLUMN renotified INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE alarms ADD COLUMN incident INTEGER;
   UPDATE alarms SET owner = site, notified_at = ts,
     state = CASE WHEN acked_at IS NULL THEN 'active' ELSE 'cleared' END,
     cleared_at = acked_at;
   CREATE INDEX alarms_state ON alarms (state, id);
   CREATE INDEX alarms_condition ON alarms (device, type, cleared_at);
   CREATE TABLE alarm_timeline (
     id INTEGER PRIMARY KEY, alarm INTEGER NOT NULL, ts INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
     note TEXT, data TEXT);
   CREATE INDEX alarm_timeline_alarm ON alarm_timeline (alarm, id);
   CREATE TABLE health_events (
     id INTEGER PRIMARY KEY, subject TEXT NOT NULL, site TEXT NOT NULL, kind TEXT NOT NULL, ts INTEGER NOT NULL,
     online INTEGER NOT NULL, reason TEXT);
   CREATE INDEX health_events_ts ON health_events (ts);
   CREATE INDEX health_events_subject ON health_events (subject, ts);
   CREATE TABLE reading_rules (
     id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_by TEXT NOT NULL, created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL);
   CREATE TABLE notify_subscriptions (
     id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_by TEXT NOT NULL, created_at INTEGER NOT NULL);
   CREATE TABLE notify_deliveries (
     id INTEGER PRIMARY KEY, alarm INTEGER NOT NULL, subscription INTEGER NOT NULL, channel TEXT NOT NULL,
     reason TEXT NOT NULL, step INTEGER NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, next_at INTEGER, error TEXT,
     UNIQUE (alarm, subscription, reason, step));
   CREATE INDEX notify_deliveries_due ON notify_deliveries (status, next_at);
   CREATE INDEX notify_deliveries_alarm ON notify_deliveries (alarm);`,
  // The messages a cluster stored, by their identity at the gateway (cluster/ingest-claims.ts). One
  // hub on SQLite keeps its marks with the time series and leaves this table empty.
  `CREATE TABLE ingest_claims (
     gateway TEXT NOT NULL, lane TEXT NOT NULL, epoch TEXT NOT NULL, seq INTEGER NOT NULL,
     claimed_at INTEGER NOT NULL, PRIMARY KEY (gateway, lane, epoch, seq));
   CREATE INDEX ingest_claims_age ON ingest_claims (claimed_at);`,
  // Issue 21, recording: what each gateway holds of each camera (its retained index, one row per
  // camera), the clips pulled for alarms and incidents (stored by content hash, kept while the
  // incident is open and a while after), and their single-use download tokens.
  `CREATE TABLE recording_index (
     gateway TEXT NOT NULL, device TEXT NOT NULL, site TEXT NOT NULL, stream TEXT NOT NULL,
     state TEXT NOT NULL, ranges TEXT NOT NULL, segments INTEGER NOT NULL, bytes INTEGER NOT NULL,
     deleted INTEGER NOT NULL, ts INTEGER NOT NULL, updated_at INTEGER NOT NULL,
     PRIMARY KEY (gateway, device));
   CREATE TABLE evidence (
     id INTEGER PRIMARY KEY, site TEXT NOT NULL, device TEXT NOT NULL, stream TEXT NOT NULL,
     alarm INTEGER, incident INTEGER, from_ts INTEGER NOT NULL, to_ts INTEGER NOT NULL,
     state TEXT NOT NULL, upload TEXT NOT NULL, sha256 TEXT, bytes INTEGER, duration_ms INTEGER,
     attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, error TEXT,
     created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, expires_at INTEGER);
   CREATE INDEX evidence_due ON evidence (state, next_at);
   CREATE INDEX evidence_incident ON evidence (incident);
   CREATE INDEX evidence_alarm ON evidence (alarm);
   CREATE UNIQUE INDEX evidence_upload ON evidence (upload);
   CREATE TABLE evidence_tokens (
     token TEXT PRIMARY KEY, evidence INTEGER NOT NULL, username TEXT NOT NULL,
     expires_at INTEGER NOT NULL, used_at INTEGER);`,
  // Issue 22, provisioning from the hub: one-time enrolment codes (only their hash), the gateway's
  // X25519 public key (device secrets are sealed to it), its desired devices as versions, and its
  // last report on them.
  `ALTER TABLE gateways ADD COLUMN public_key TEXT;
   ALTER TABLE gateways ADD COLUMN enrolled_at INTEGER;
   CREATE TABLE enrolment_codes (
     code_hash TEXT PRIMARY KEY, gateway TEXT NOT NULL, site TEXT NOT NULL, created_by TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER, used_from TEXT);
   CREATE INDEX enrolment_codes_gateway ON enrolment_codes (gateway);
   CREATE TABLE gateway_configs (
     gateway TEXT NOT NULL, version INTEGER NOT NULL, devices TEXT NOT NULL, created_by TEXT NOT NULL,
     created_at INTEGER NOT NULL, PRIMARY KEY (gateway, version));
   CREATE TABLE gateway_config_reports (
     gateway TEXT PRIMARY KEY, version INTEGER NOT NULL, status TEXT NOT NULL, running INTEGER NOT NULL,
     devices TEXT NOT NULL, problems TEXT NOT NULL, reported_at INTEGER NOT NULL);`,
  // Which hub streams each camera stream in a cluster (cluster/video-holders.ts); empty on one hub.
  `CREATE TABLE video_holders (
     stream TEXT PRIMARY KEY, hub_id TEXT NOT NULL, url TEXT NOT NULL, since INTEGER NOT NULL);`,
];

export class StateDb {
  private readonly db: SqlDatabase;

  /** A SQLite file (or `:memory:`), or an open database (PostgreSQL), migrated to the current schema. */
  constructor(target: string | SqlDatabase) {
    if (typeof target !== 'string') {
      this.db = target;
      if (target.dialect === 'postgres') migratePostgres(target);
      else migrateSqlite((target as SqliteDatabase).raw);
      return;
    }
    const path = target;
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const raw = new Database(path);
    if (path !== ':memory:') chmodSync(path, 0o600);
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    migrateSqlite(raw);
    this.db = new SqliteDatabase(raw);
  }

  close(): void {
    this.db.close();
  }

  /** A setting managed through the API (linkage rules), or undefined when never set. */
  getSetting<T>(key: string): T | undefined {
    const row = this.db
      .prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?')
      .get(key);
    return row ? (JSON.parse(row.value) as T) : undefined;
  }

  setSetting(key: string, value: unknown): void {
    this.db
      .prepare(
        'INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at',
      )
      .run(key, JSON.stringify(value), Date.now());
  }

  /** The database handle, for services that keep their own tables here (the audit log). */
  get handle(): SqlDatabase {
    return this.db;
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
  createUser(user: Omit<UserRow, 'createdAt' | 'disabled'>): boolean {
    const result = this.db
      .prepare(
        'INSERT INTO users (username, password_hash, role, sites, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
      )
      .run(user.username, user.passwordHash, user.role, JSON.stringify(user.sites), Date.now());
    return result.changes === 1;
  }

  updateUser(
    username: string,
    changes: Partial<Pick<UserRow, 'passwordHash' | 'role' | 'sites' | 'disabled'>>,
  ): boolean {
    const current = this.getUser(username);
    if (!current) return false;
    const next = { ...current, ...changes };
    this.db
      .prepare('UPDATE users SET password_hash = ?, role = ?, sites = ?, disabled = ? WHERE username = ?')
      .run(next.passwordHash, next.role, JSON.stringify(next.sites), next.disabled ? 1 : 0, username);
    return true;
  }

  deleteUser(username: string): boolean {
    return this.db.prepare('DELETE FROM users WHERE username = ?').run(username).changes === 1;
  }

  countActiveAdmins(): number {
    return (
      this.db.prepare("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0").get() as {
        n: number;
      }
    ).n;
  }

  // sessions
  createSession(s: Omit<SessionRow, 'revokedAt'>): void {
    this.db
      .prepare('INSERT INTO sessions (id, username, created_at, expires_at, address) VALUES (?, ?, ?, ?, ?)')
      .run(s.id, s.username, s.createdAt, s.expiresAt, s.address);
  }

  getSession(id: string): SessionRow | undefined {
    const r = this.db.prepare('SELECT * FROM sessions WHERE id = ?').get(id) as
      | Record<string, unknown>
      | undefined;
    return r
      ? {
          id: r.id as string,
          username: r.username as string,
          createdAt: r.created_at as number,
          expiresAt: r.expires_at as number,
          revokedAt: (r.revoked_at as number | null) ?? null,
          address: (r.address as string | null) ?? null,
        }
      : undefined;
  }

  revokeSession(id: string, at = Date.now()): boolean {
    return (
      this.db.prepare('UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id)
        .changes === 1
    );
  }

  /** Revokes every live session of a user; returns how many. */
  revokeUserSessions(username: string, at = Date.now()): number {
    return this.db
      .prepare('UPDATE sessions SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL')
      .run(at, username).changes;
  }

  /** Forgets sessions that expired more than a day ago. */
  pruneSessions(now = Date.now()): void {
    this.db.prepare('DELETE FROM sessions WHERE expires_at < ?').run(now - 86_400_000);
  }

  // commands
  insertCommand(c: CommandRow): void {
    this.db
      .prepare(
        `INSERT INTO commands (id, username, site, gateway, device, action, params, status, created_at, deadline, finished_at, result)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        c.id,
        c.username,
        c.site,
        c.gateway,
        c.device,
        c.action,
        JSON.stringify(c.params),
        c.status,
        c.createdAt,
        c.deadline,
        c.finishedAt,
        c.result ? JSON.stringify(c.result) : null,
      );
  }

  finishCommand(
    id: string,
    status: CommandStatus,
    finishedAt: number,
    result: Record<string, unknown>,
  ): void {
    this.db
      .prepare("UPDATE commands SET status = ?, finished_at = ?, result = ? WHERE id = ? AND status = 'sent'")
      .run(status, finishedAt, JSON.stringify(result), id);
  }

  getCommand(id: string): CommandRow | undefined {
    const r = this.db.prepare('SELECT * FROM commands WHERE id = ?').get(id) as
      | Record<string, unknown>
      | undefined;
    return r ? toCommand(r) : undefined;
  }

  listCommands(q: { gateway?: string; device?: string | null; limit: number }): CommandRow[] {
    return (
      this.db
        .prepare(
          // The casts type a parameter PostgreSQL cannot infer from `IS NULL` alone.
          `SELECT * FROM commands WHERE (CAST(@gateway AS TEXT) IS NULL OR gateway = @gateway)
             AND (CAST(@device AS TEXT) IS NULL OR device = @device) ORDER BY created_at DESC LIMIT @limit`,
        )
        .all({ gateway: q.gateway ?? null, device: q.device ?? null, limit: q.limit }) as Array<
        Record<string, unknown>
      >
    ).map(toCommand);
  }

  /** Commands still waiting for a result (after a restart: their results may never come). */
  listOpenCommands(): CommandRow[] {
    return (
      this.db.prepare("SELECT * FROM commands WHERE status = 'sent'").all() as Array<Record<string, unknown>>
    ).map(toCommand);
  }

  // video holders (several hubs: who streams a camera stream; the lease is an advisory lock)
  setVideoHolder(stream: string, hubId: string, url: string): void {
    this.db
      .prepare(
        `INSERT INTO video_holders (stream, hub_id, url, since) VALUES (?, ?, ?, ?)
         ON CONFLICT(stream) DO UPDATE SET hub_id = excluded.hub_id, url = excluded.url, since = excluded.since`,
      )
      .run(stream, hubId, url, Date.now());
  }

  getVideoHolder(stream: string): { hubId: string; url: string } | undefined {
    return this.db
      .prepare<[string], { hubId: string; url: string }>(
        'SELECT hub_id AS "hubId", url FROM video_holders WHERE stream = ?',
      )
      .get(stream);
  }

  /** Forgets `hubId` as the stream's holder (a row another hub wrote since stays). */
  clearVideoHolder(stream: string, hubId: string): void {
    this.db.prepare('DELETE FROM video_holders WHERE stream = ? AND hub_id = ?').run(stream, hubId);
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

function migrateSqlite(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

function toUser(r: Record<string, unknown>): UserRow {
  return {
    username: r.username as string,
    passwordHash: r.password_hash as string,
    role: r.role as Role,
    sites: JSON.parse(r.sites as string),
    disabled: r.disabled === 1,
    createdAt: r.created_at as number,
  };
}

function toCommand(r: Record<string, unknown>): CommandRow {
  return {
    id: r.id as string,
    username: r.username as string,
    site: r.site as string,
    gateway: r.gateway as string,
    device: (r.device as string | null) ?? null,
    action: r.action as string,
    params: JSON.parse(r.params as string) as Record<string, unknown>,
    status: r.status as CommandStatus,
    createdAt: r.created_at as number,
    deadline: r.deadline as number,
    finishedAt: (r.finished_at as number | null) ?? null,
    result: r.result ? (JSON.parse(r.result as string) as Record<string, unknown>) : null,
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

/**
 * Moving a single hub's SQLite state to PostgreSQL (scripts/state-to-postgres.ts) against a real
 * PostgreSQL: every table arrives row for row with its ids, the audit chain verifies where it now
 * lives (`npm run audit:verify -- --postgres`), new alarms and incidents number on from the copied
 * ones, and a database that already holds state is refused with nothing changed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlarmService } from '../hub/src/services/alarms.ts';
import { AuditLog } from '../hub/src/services/audit-log.ts';
import { EventBus } from '../hub/src/services/event-bus.ts';
import { IncidentService } from '../hub/src/services/incidents.ts';
import { createMetrics } from '../hub/src/services/metrics.ts';
import { SiteTree } from '../hub/src/services/site-tree.ts';
import { PostgresDatabase, type SqlDatabase } from '../hub/src/stores/sql.ts';
import { StateDb } from '../hub/src/stores/state-db.ts';
import { PostgresServer, postgresAvailable } from './support/postgres.ts';

const HAVE_PG = postgresAvailable();
const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const log = pino({ level: 'silent' });
let pg: PostgresServer | undefined;
const dir = mkdtempSync(join(tmpdir(), 'qly-state-move-'));

beforeAll(async () => {
  if (!HAVE_PG) return;
  pg = new PostgresServer();
  await pg.start();
}, 60_000);
afterAll(async () => {
  await pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const script = (name: string, args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', name), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });

function servicesOn(state: StateDb) {
  const bus = new EventBus(createMetrics(), log);
  const tree = new SiteTree(state.handle);
  const audit = new AuditLog(state.handle, join(dir, 'audit-head'), log);
  const incidents = new IncidentService(state.handle, bus, tree, audit, log, {
    acceptMs: 3_600_000,
    resolveMs: 86_400_000,
    warnBeforeMs: 600_000,
    rules: [],
    autoEscalate: false,
    clock: Date.now,
  });
  return { tree, audit, incidents, alarms: new AlarmService(state.handle, bus, log) };
}

const dump = (db: SqlDatabase, table: string, order: string) =>
  db.prepare(`SELECT * FROM ${table} ORDER BY ${order}`).all();

describe('moving a SQLite deployment to PostgreSQL', () => {
  it.skipIf(!HAVE_PG)('copies every table with its ids, and the audit chain verifies there', () => {
    const sqlite = new StateDb(join(dir, 'state.db'));
    const s = servicesOn(sqlite);
    s.tree.upsert([
      { id: 'county', name: '县', level: 'county', parent: null },
      { id: 'town', name: '镇', level: 'town', parent: 'county' },
      { id: 'v1', name: '一村', level: 'village', parent: 'town' },
    ]);
    sqlite.createUser({ username: 'duty', passwordHash: 'scrypt$x', role: 'duty_officer', sites: ['v1'] });
    sqlite.createSession({ id: 's1', username: 'duty', createdAt: 1, expiresAt: 2e12, address: '10.0.0.9' });
    sqlite.upsertGateway('gw1', 'v1', 'hash');
    sqlite.setSetting('linkage.rules', [{ id: 'r1' }]);
    const officer = { username: 'duty', role: 'duty_officer' as const, sites: [], sid: 's1' };
    for (let i = 0; i < 3; i++)
      s.incidents.create(officer, { title: `事件${i}`, category: 'flood', site: 'v1', source: 'officer' });
    s.alarms.raise(
      'gw1.cam',
      'v1',
      Date.now(),
      'motion',
      'alarm',
      { a: 1 },
      { gateway: 'gw1', epoch: 'e', seq: 1 },
    );
    s.alarms.raise('gw1.cam', 'v1', Date.now(), 'tamper', 'critical');
    for (let i = 0; i < 5; i++)
      s.audit.append({ actor: 'duty', action: 'login', outcome: 'ok', detail: { i } });
    const before = Object.fromEntries(
      [
        ['users', 'username'],
        ['sessions', 'id'],
        ['gateways', 'id'],
        ['sites', 'id'],
        ['incidents', 'id'],
        ['incident_events', 'id'],
        ['alarms', 'id'],
        ['alarm_events', 'seq'],
        ['audit', 'seq'],
        ['settings', 'key'],
      ].map(([t, o]) => [t, dump(sqlite.handle, t as string, o as string)]),
    );
    sqlite.close();

    const url = (pg as PostgresServer).createDatabase('moved');
    const moved = script('state-to-postgres.ts', ['--data-dir', dir, '--postgres', url]);
    expect(moved.stderr).toBe('');
    expect(moved.status).toBe(0);
    expect(moved.stdout).toContain('incidents 3');

    const target = new StateDb(
      new PostgresDatabase({ url, statementTimeoutMs: 5000, connectTimeoutS: 5, applicationName: 'check' }),
    );
    for (const [table, rows] of Object.entries(before)) {
      const order =
        {
          users: 'username',
          sessions: 'id',
          gateways: 'id',
          sites: 'id',
          settings: 'key',
          audit: 'seq',
          alarm_events: 'seq',
        }[table] ?? 'id';
      expect({ table, rows: dump(target.handle, table, order) }).toEqual({ table, rows });
    }
    const verified = script('audit-verify.ts', ['--data-dir', dir, '--postgres', url]);
    expect(verified.stdout).toContain('audit log verified: 8 entries');
    expect(verified.status).toBe(0);

    // Numbering goes on from the copied ids.
    const t = servicesOn(target);
    expect(
      t.incidents.create(officer, { title: '新', category: 'fire', site: 'v1', source: 'officer' }).id,
    ).toBe(4);
    expect(t.alarms.raise('gw1.cam', 'v1', Date.now(), 'smoke', 'alarm')?.id).toBe(3);
    expect(t.audit.append({ actor: 'duty', action: 'logout', outcome: 'ok' }).seq).toBe(10);
    target.close();

    // A second run finds state there and refuses, changing nothing.
    const again = script('state-to-postgres.ts', ['--data-dir', dir, '--postgres', url]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/already holds \d+ rows in users/);
  });
});

/**
 * One contract, two state stores: the embedded SQLite file and PostgreSQL (Debian's `postgresql`,
 * a throwaway cluster started here on a free loopback port). The same services (users, sessions,
 * gateways and devices, commands, settings, sites, alarms, incidents, broadcasts' and calls' tables,
 * the audit chain) run against both and must answer alike; both schemas must have the same tables
 * and columns. On PostgreSQL two "hubs" (two connections, two service instances) share one
 * database: an alarm event delivered to both counts once, an SLA breach swept by both fires once,
 * and the audit chain they append to together verifies.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestClaims } from '../hub/src/cluster/ingest-claims.ts';
import { AlarmService } from '../hub/src/services/alarms.ts';
import { AuditLog, verifyAuditChain } from '../hub/src/services/audit-log.ts';
import { availabilityReport } from '../hub/src/services/availability.ts';
import type { CommandService } from '../hub/src/services/commands.ts';
import { EventBus } from '../hub/src/services/event-bus.ts';
import { EvidenceService } from '../hub/src/services/evidence.ts';
import { IncidentService } from '../hub/src/services/incidents.ts';
import { createMetrics } from '../hub/src/services/metrics.ts';
import { RecordingIndexStore } from '../hub/src/services/recording-index.ts';
import type { Registry } from '../hub/src/services/registry.ts';
import { SiteTree } from '../hub/src/services/site-tree.ts';
import { ProvisioningStore } from '../hub/src/stores/provisioning-store.ts';
import {
  openSqlite,
  PostgresDatabase,
  type SqlDatabase,
  translatePlaceholders,
} from '../hub/src/stores/sql.ts';
import { StateDb } from '../hub/src/stores/state-db.ts';
import { PostgresServer, postgresAvailable } from './support/postgres.ts';

const HAVE_PG = postgresAvailable();
const dir = mkdtempSync(join(tmpdir(), 'qly-state-contract-'));
const log = pino({ level: 'silent' });
let pg: PostgresServer | undefined;
let databases = 0;

beforeAll(async () => {
  if (!HAVE_PG) return;
  pg = new PostgresServer();
  await pg.start();
}, 60_000);

afterAll(async () => {
  await pg?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const pgOptions = (url: string, name = 'test') => ({
  url,
  statementTimeoutMs: 5000,
  connectTimeoutS: 5,
  applicationName: name,
});

interface Backend {
  name: string;
  skip: boolean;
  /** A fresh database, and a second handle on it when the backend is shared (a second hub). */
  open(): { db: SqlDatabase; second?: () => SqlDatabase };
}

const backends: Backend[] = [
  {
    name: 'SQLite',
    skip: false,
    open: () => ({ db: openSqlite(join(dir, `state-${++databases}.db`)) }),
  },
  {
    name: 'PostgreSQL',
    skip: !HAVE_PG,
    open: () => {
      const url = (pg as PostgresServer).createDatabase(`contract_${++databases}`);
      return {
        db: new PostgresDatabase(pgOptions(url)),
        second: () => new PostgresDatabase(pgOptions(url, 'hub2')),
      };
    },
  },
];

const T0 = Date.UTC(2026, 10, 1, 8);
const HOUR = 3_600_000;

function services(db: SqlDatabase, now: () => number) {
  const state = new StateDb(db);
  const bus = new EventBus(createMetrics(), log);
  const tree = new SiteTree(state.handle);
  const audit = new AuditLog(state.handle, join(dir, `audit-head-${++databases}`), log);
  const alarms = new AlarmService(state.handle, bus, log);
  const incidents = new IncidentService(state.handle, bus, tree, audit, log, {
    acceptMs: HOUR,
    resolveMs: 24 * HOUR,
    warnBeforeMs: 10 * 60_000,
    rules: [],
    autoEscalate: false,
    clock: now,
  });
  return { state, bus, tree, audit, alarms, incidents };
}

describe('placeholders', () => {
  it('turns ? and @name into $n outside literals, one number per name', () => {
    expect(
      translatePlaceholders("SELECT '?', x FROM t WHERE a = ? AND b = @b OR c = @b -- ?\n AND d = ?"),
    ).toEqual({
      text: "SELECT '?', x FROM t WHERE a = $1 AND b = $2 OR c = $2 -- ?\n AND d = $3",
      params: [0, 'b', 1],
    });
  });
});

describe.each(backends)('state store contract: $name', (backend) => {
  it.skipIf(backend.skip)(
    'keeps enrolment codes (used once), gateway keys, config versions and reports',
    () => {
      const { db, second } = backend.open();
      const { state } = services(db, () => T0);
      const store = new ProvisioningStore(state.handle);
      state.upsertGateway('gw1', 'v1', null);
      store.insertCode({
        codeHash: 'h1',
        gateway: 'gw1',
        site: 'v1',
        createdBy: 'admin',
        createdAt: T0,
        expiresAt: T0 + HOUR,
      });
      store.insertCode({
        codeHash: 'h2',
        gateway: 'gw1',
        site: 'v1',
        createdBy: 'admin',
        createdAt: T0,
        expiresAt: T0 + 10,
      });
      expect(store.redeem('nope', T0 + 1, '10.0.0.9')).toBe('unknown_code');
      expect(store.redeem('h2', T0 + 20, '10.0.0.9')).toBe('expired_code');
      expect(store.redeem('h1', T0 + 5, '10.0.0.9')).toMatchObject({
        gateway: 'gw1',
        usedAt: T0 + 5,
        usedFrom: '10.0.0.9',
      });
      // Once only, from this hub or another one sharing the database.
      expect(store.redeem('h1', T0 + 6, '10.0.0.9')).toBe('used_code');
      if (second) expect(new ProvisioningStore(second()).redeem('h1', T0 + 7, '10.0.0.8')).toBe('used_code');
      store.insertCode({
        codeHash: 'h3',
        gateway: 'gw1',
        site: 'v1',
        createdBy: 'admin',
        createdAt: T0,
        expiresAt: T0 + HOUR,
      });
      store.voidCodes('gw1', T0 + 8);
      expect(store.redeem('h3', T0 + 9, 'x')).toBe('expired_code');

      expect(store.getPublicKey('gw1')).toBeUndefined();
      store.setPublicKey('gw1', 'pk', T0);
      expect(store.getPublicKey('gw1')).toEqual({ publicKey: 'pk', enrolledAt: T0 });

      const devices = [{ type: 'onvif-camera', id: 'cam1', password: { sealed: 'v1.x' } }];
      expect(store.addConfig('gw1', 0, devices, 'admin', T0)).toBe(1);
      expect(store.addConfig('gw1', 0, [], 'admin', T0 + 1)).toBeUndefined(); // based on an old version
      expect(store.addConfig('gw1', undefined, [], 'admin', T0 + 2)).toBe(2);
      expect(store.latestConfig('gw1')).toMatchObject({
        version: 2,
        devices: [],
        createdBy: 'admin',
        createdAt: T0 + 2,
      });
      expect(store.configHistory('gw1', 5).map((c) => c.version)).toEqual([2, 1]);
      expect(store.configHistory('gw1', 5)[1]?.devices).toEqual(devices);
      expect([...store.latestVersions()]).toEqual([['gw1', 2]]);

      const report = {
        gateway: 'gw1',
        version: 2,
        status: 'refused' as const,
        running: 1,
        devices: [],
        problems: ['/devices/0/xaddr: required'],
        reportedAt: T0 + 3,
      };
      store.saveReport(report);
      store.saveReport({ ...report, status: 'applied', running: 2, problems: [], reportedAt: T0 + 4 });
      expect(store.getReport('gw1')).toEqual({
        ...report,
        status: 'applied',
        running: 2,
        problems: [],
        reportedAt: T0 + 4,
      });
      store.forgetGateway('gw1');
      expect(store.latestConfig('gw1')).toBeUndefined();
      expect(store.getReport('gw1')).toBeUndefined();
      expect(store.getCode('h1')).toBeUndefined();
      state.close();
    },
  );
  it.skipIf(backend.skip)('names each camera stream’s holder; a hub clears only its own row', () => {
    const { db } = backend.open();
    const { state } = services(db, () => T0);
    expect(state.getVideoHolder('video:gw.cam/main')).toBeUndefined();
    state.setVideoHolder('video:gw.cam/main', 'hub-1', 'http://hub-1:8080');
    expect(state.getVideoHolder('video:gw.cam/main')).toEqual({ hubId: 'hub-1', url: 'http://hub-1:8080' });
    state.setVideoHolder('video:gw.cam/main', 'hub-2', 'http://hub-2:8080');
    state.clearVideoHolder('video:gw.cam/main', 'hub-1');
    expect(state.getVideoHolder('video:gw.cam/main')).toEqual({ hubId: 'hub-2', url: 'http://hub-2:8080' });
    state.clearVideoHolder('video:gw.cam/main', 'hub-2');
    expect(state.getVideoHolder('video:gw.cam/main')).toBeUndefined();
  });

  it.skipIf(backend.skip)('keeps users, sessions, gateways, devices, commands and settings', () => {
    const { db } = backend.open();
    const { state } = services(db, () => T0);
    expect(
      state.createUser({ username: 'duty', passwordHash: 'h', role: 'duty_officer', sites: ['v1'] }),
    ).toBe(true);
    expect(state.createUser({ username: 'duty', passwordHash: 'x', role: 'admin', sites: [] })).toBe(false);
    expect(state.getUser('duty')).toMatchObject({ role: 'duty_officer', sites: ['v1'], disabled: false });
    expect(state.updateUser('duty', { disabled: true, role: 'admin' })).toBe(true);
    expect(state.getUser('duty')).toMatchObject({ disabled: true, role: 'admin' });
    expect(state.countActiveAdmins()).toBe(0);
    expect(state.countUsers()).toBe(1);
    expect(typeof state.getUser('duty')?.createdAt).toBe('number');

    state.createSession({
      id: 's1',
      username: 'duty',
      createdAt: T0,
      expiresAt: T0 + HOUR,
      address: '10.0.0.1',
    });
    state.createSession({ id: 's2', username: 'duty', createdAt: T0, expiresAt: T0 + HOUR, address: null });
    expect(state.getSession('s1')).toEqual({
      id: 's1',
      username: 'duty',
      createdAt: T0,
      expiresAt: T0 + HOUR,
      revokedAt: null,
      address: '10.0.0.1',
    });
    expect(state.revokeSession('s1', T0 + 1)).toBe(true);
    expect(state.revokeSession('s1', T0 + 2)).toBe(false);
    expect(state.revokeUserSessions('duty', T0 + 3)).toBe(1);
    expect(state.getSession('s2')?.revokedAt).toBe(T0 + 3);
    state.pruneSessions(T0 + HOUR + 86_400_001);
    expect(state.getSession('s1')).toBeUndefined();

    state.upsertGateway('gw1', 'v1', 'hash1');
    state.upsertGateway('gw1', 'v2', null);
    expect(state.getGateway('gw1')).toMatchObject({ site: 'v2', passwordHash: 'hash1' });
    state.upsertDevice({
      gateway: 'gw1',
      device: 'cam1',
      site: 'v2',
      meta: { kind: 'camera', name: '一号', position: { lat: 30, lon: 120 }, capabilities: [] },
      metaSeq: 7,
      updatedAt: T0,
    });
    expect(state.listDevices()).toEqual([
      expect.objectContaining({ gateway: 'gw1', device: 'cam1', metaSeq: 7, updatedAt: T0 }),
    ]);
    state.deleteDevicesOf('gw1');
    expect(state.listDevices()).toEqual([]);
    expect(state.deleteGateway('gw1')).toBe(true);

    const command = {
      id: 'c1',
      username: 'duty',
      site: 'v1',
      gateway: 'gw1',
      device: 'cam1',
      action: 'ptz.stop',
      params: { a: 1 },
      status: 'sent' as const,
      createdAt: T0,
      deadline: T0 + 5000,
      finishedAt: null,
      result: null,
    };
    state.insertCommand(command);
    state.insertCommand({ ...command, id: 'c2', device: null, createdAt: T0 + 1 });
    expect(
      state
        .listOpenCommands()
        .map((c) => c.id)
        .sort(),
    ).toEqual(['c1', 'c2']);
    state.finishCommand('c1', 'ok', T0 + 10, { data: { done: true } });
    state.finishCommand('c1', 'timeout', T0 + 20, { error: {} });
    expect(state.getCommand('c1')).toMatchObject({
      status: 'ok',
      finishedAt: T0 + 10,
      result: { data: { done: true } },
    });
    expect(state.listCommands({ gateway: 'gw1', device: 'cam1', limit: 10 }).map((c) => c.id)).toEqual([
      'c1',
    ]);
    expect(state.listCommands({ limit: 10 }).map((c) => c.id)).toEqual(['c2', 'c1']);

    expect(state.getSetting('linkage.rules')).toBeUndefined();
    state.setSetting('linkage.rules', [{ id: 'r1' }]);
    state.setSetting('linkage.rules', [{ id: 'r2' }]);
    expect(state.getSetting('linkage.rules')).toEqual([{ id: 'r2' }]);
    state.close();
  });

  it.skipIf(backend.skip)('keeps the site tree and reloads it', () => {
    const { db } = backend.open();
    const { state, tree } = services(db, () => T0);
    tree.upsert([
      { id: 'county', name: '县', level: 'county', parent: null },
      { id: 'town', name: '镇', level: 'town', parent: 'county', center: { lat: 30, lon: 120 } },
      { id: 'v1', name: '一村', level: 'village', parent: 'town' },
    ]);
    const again = new SiteTree(state.handle);
    expect(again.size).toBe(3);
    expect(again.expand(['town']).sort()).toEqual(['town', 'v1']);
    expect(again.get('town')?.center).toEqual({ lat: 30, lon: 120 });
    state.close();
  });

  it.skipIf(backend.skip)('raises, repeats, acknowledges and lists alarms; an event counts once', () => {
    const { db } = backend.open();
    const { state, alarms, bus } = services(db, () => T0);
    const seen: number[] = [];
    bus.on('alarmChanged', 'test', ({ alarm }) => seen.push(alarm.count));
    const origin = { gateway: 'gw1', epoch: 'e1', seq: 5 };
    const first = alarms.raise('gw1.cam1', 'v1', T0, 'motion', 'alarm', { zone: 1 }, origin);
    expect(first).toMatchObject({ count: 1, ts: T0, lastTs: T0, data: { zone: 1 }, ackedAt: null });
    // The same event again (redelivered): not counted, not announced.
    expect(alarms.raise('gw1.cam1', 'v1', T0, 'motion', 'alarm', { zone: 1 }, origin)).toBeUndefined();
    const repeat = alarms.raise('gw1.cam1', 'v1', T0 + 1000, 'motion', 'alarm', undefined, {
      ...origin,
      seq: 6,
    });
    expect(repeat).toMatchObject({ id: first?.id, count: 2, lastTs: T0 + 1000 });
    // An older repeat keeps the newest last_ts.
    alarms.raise('gw1.cam1', 'v1', T0 + 500, 'motion', 'alarm', undefined, { ...origin, seq: 7 });
    expect(alarms.get(first?.id as number)).toMatchObject({ count: 3, lastTs: T0 + 1000 });
    expect(seen).toEqual([1, 2, 3]);
    const other = alarms.raise('gw2.cam1', 'v2', T0, 'tamper', 'critical');
    expect(alarms.list({ sites: ['v2'], limit: 10 }).map((a) => a.id)).toEqual([other?.id]);
    expect(alarms.list({ open: true, limit: 10 })).toHaveLength(2);
    expect(alarms.acknowledge(other?.id as number, 'duty', undefined, T0 + 5)).toMatchObject({
      ackedBy: 'duty',
      ackedAt: T0 + 5,
    });
    expect(alarms.list({ open: true, limit: 10 }).map((a) => a.id)).toEqual([first?.id]);
    // Acknowledged, the event is still counted: delivered once more, it opens no new alarm.
    alarms.acknowledge(first?.id as number, 'duty');
    expect(alarms.raise('gw1.cam1', 'v1', T0, 'motion', 'alarm', undefined, origin)).toBeUndefined();
    expect(alarms.list({ limit: 10 })).toHaveLength(2);
    state.close();
  });

  it.skipIf(backend.skip)(
    'alarm centre: conditions clear with their duration and reopen when they flap, timelines, re-notify and escalation, rules, subscriptions, deliveries deduplicated, the health record',
    () => {
      const { db, second } = backend.open();
      let now = T0;
      const { state, tree, bus } = services(db, () => now);
      tree.upsert([
        { id: 'county', name: '县', level: 'county', parent: null },
        { id: 'town', name: '镇', level: 'town', parent: 'county' },
        { id: 'v1', name: '一村', level: 'village', parent: 'town' },
      ]);
      const alarms = new AlarmService(state.handle, bus, log, {
        clock: () => now,
        ancestors: (site) => tree.ancestors(site),
        flapWindowMs: 60_000,
        renotifyAfterMs: 5 * 60_000,
        escalateAfterMs: 10 * 60_000,
      });
      const notified: string[] = [];
      bus.on('alarmNotify', 'test', ({ alarm, reason, step }) =>
        notified.push(`${alarm.id}:${reason}:${step}`),
      );
      const down = {
        source: 'health' as const,
        device: 'gw1.cam1',
        site: 'v1',
        type: 'health.video_lost',
        severity: 'alarm' as const,
        reason: 'VIDEO_LOST: no frames for 10 s',
      };
      const a = alarms.raiseCondition(down) as NonNullable<ReturnType<typeof alarms.raiseCondition>>;
      expect(a).toMatchObject({
        state: 'active',
        source: 'health',
        owner: 'v1',
        count: 1,
        clearedAt: null,
        reason: down.reason,
      });
      expect(alarms.raiseCondition(down)).toBeUndefined(); // unchanged: nothing announced
      now += 30_000;
      expect(alarms.clearCondition('gw1.cam1', 'health.video_lost')).toMatchObject({
        state: 'cleared_unacknowledged',
        clearedAt: T0 + 30_000,
        durationMs: 30_000,
      });
      now += 10_000; // back within the flap window: the same alarm, counted
      expect(alarms.raiseCondition(down)).toMatchObject({
        id: a.id,
        count: 2,
        state: 'active',
        clearedAt: null,
      });
      now += 70_000;
      alarms.clearCondition('gw1.cam1', 'health.video_lost');
      now += 120_000; // past the flap window: a new alarm
      const b = alarms.raiseCondition(down);
      expect(b?.id).not.toBe(a.id);
      expect(alarms.timeline(a.id).map((e) => e.action)).toEqual([
        'raised',
        'cleared',
        'reopened',
        'cleared',
      ]);
      expect(alarms.acknowledge(a.id, 'duty', '已派人查看')).toMatchObject({
        state: 'cleared',
        ackNote: '已派人查看',
      });
      expect(() => alarms.acknowledge(a.id, 'duty')).toThrow('already acknowledged');
      // b: 5 min unacknowledged → re-notified; 10 min → escalated to the town, then the county.
      const t = now;
      alarms.tick(t + 5 * 60_000);
      expect(alarms.get(b?.id as number)).toMatchObject({ renotified: 1, owner: 'v1' });
      alarms.tick(t + 10 * 60_000);
      expect(alarms.get(b?.id as number)).toMatchObject({ owner: 'town', escalations: 1 });
      alarms.tick(t + 20 * 60_000);
      alarms.tick(t + 30 * 60_000);
      expect(alarms.get(b?.id as number)).toMatchObject({ owner: 'county', escalations: 2 });
      expect(alarms.list({ owners: ['town'], limit: 10 })).toEqual([]);
      expect(alarms.list({ owners: ['county'], limit: 10 }).map((x) => x.id)).toEqual([b?.id]);
      expect(alarms.list({ q: 'frames', states: ['active'], limit: 10 }).map((x) => x.id)).toEqual([b?.id]);
      expect(alarms.timeline(b?.id as number).map((e) => e.action)).toContain('escalated');
      expect(notified).toContain(`${b?.id}:escalated:2`);

      // The tables of rules, subscriptions and deliveries, and the health record.
      const h = state.handle;
      const rule = h
        .prepare<[string, string, number, number], { id: number }>(
          'INSERT INTO reading_rules (body, created_by, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id',
        )
        .get('{"name":"水位"}', 'admin', T0, T0);
      expect(rule?.id).toBeGreaterThan(0);
      const sub = h
        .prepare<[string, string, number], { id: number }>(
          'INSERT INTO notify_subscriptions (body, created_by, created_at) VALUES (?, ?, ?) RETURNING id',
        )
        .get('{}', 'admin', T0);
      const insert = h.prepare<unknown[], { id: number }>(
        `INSERT INTO notify_deliveries (alarm, subscription, channel, reason, step, status, attempts, created_at, updated_at, next_at)
         VALUES (?, ?, 'hook', 'raised', 0, 'pending', 0, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
      );
      const hub2 = second ? new StateDb(second()).handle : h;
      expect(insert.get(a.id, sub?.id, T0, T0, T0)?.id).toBeGreaterThan(0);
      // The same delivery from another hub: deduplicated by the log's key.
      expect(
        hub2
          .prepare<unknown[], { id: number }>(
            `INSERT INTO notify_deliveries (alarm, subscription, channel, reason, step, status, attempts, created_at, updated_at, next_at)
         VALUES (?, ?, 'hook', 'raised', 0, 'pending', 0, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
          )
          .get(a.id, sub?.id, T0, T0, T0),
      ).toBeUndefined();
      const record = h.prepare(
        'INSERT INTO health_events (subject, site, kind, ts, online, reason) VALUES (?, ?, ?, ?, ?, ?)',
      );
      const day = Date.UTC(2026, 10, 1) - 8 * HOUR; // midnight in China
      record.run('gw1.cam1', 'v1', 'camera', day - HOUR, 1, null);
      record.run('gw1.cam1', 'v1', 'camera', day + 6 * HOUR, 0, 'ONVIF_TIMEOUT: x');
      record.run('gw1.cam1', 'v1', 'camera', day + 12 * HOUR, 1, null);
      const report = availabilityReport(h, {
        now: day + 2 * 86_400_000 - 1,
        days: 2,
        timeZoneOffsetMinutes: 480,
      });
      expect(report.rows).toEqual([
        { day: '2026-11-01', site: 'v1', kind: 'camera', devices: 1, onlineRate: 0.75, offlineMs: 6 * HOUR },
        { day: '2026-11-02', site: 'v1', kind: 'camera', devices: 1, onlineRate: 1, offlineMs: 0 },
      ]);
      state.close();
    },
  );

  it.skipIf(backend.skip)('creates incidents, records transitions and breaches an SLA once', () => {
    const { db, second } = backend.open();
    let now = T0;
    const hub1 = services(db, () => now);
    hub1.tree.upsert([
      { id: 'county', name: '县', level: 'county', parent: null },
      { id: 'town', name: '镇', level: 'town', parent: 'county' },
      { id: 'v1', name: '一村', level: 'village', parent: 'town' },
    ]);
    const officer = { username: 'duty', role: 'duty_officer' as const, sites: [], sid: 's' };
    const a = hub1.incidents.create(officer, {
      title: '渗水',
      category: 'flood',
      site: 'v1',
      source: 'officer',
    });
    const b = hub1.incidents.create(officer, {
      title: '火情',
      category: 'fire',
      site: 'v1',
      source: 'officer',
    });
    expect(b.id).toBe(a.id + 1);
    hub1.incidents.transition(officer, b.id, { action: 'accept' } as never);
    expect(hub1.incidents.get(officer, b.id).status).toBe('accepted');
    // Two hubs sweep the same moment (another connection, other service instances on PostgreSQL).
    const hub2 = second ? services(second(), () => now) : hub1;
    const breaches: number[] = [];
    for (const hub of new Set([hub1, hub2]))
      hub.bus.on('incidentChanged', 'test', ({ incident }) => {
        if (incident.accept.breachedAt !== null) breaches.push(incident.id);
      });
    now = T0 + HOUR + 1;
    hub1.incidents.sweep();
    hub2.incidents.sweep();
    hub1.incidents.sweep();
    expect(breaches).toEqual([a.id]);
    const events = (hub1.incidents.get(officer, a.id).events ?? []).map((e) => e.action);
    expect(events.filter((e) => e === 'sla_breach')).toHaveLength(1);
    expect(events.filter((e) => e === 'sla_warning')).toHaveLength(1);
    if (hub2 !== hub1) hub2.state.close();
    hub1.state.close();
  });

  it.skipIf(backend.skip)(
    'keeps the recording index and incident clips: newest report wins, tokens are good once, scope holds',
    async () => {
      const { db } = backend.open();
      const { state, bus, audit } = services(db, () => T0);
      const index = new RecordingIndexStore(state.handle);
      const report = (ts: number, ranges: Array<[number, number]>) => ({
        seq: 1,
        epoch: 'e1',
        ts,
        stream: 'sub' as const,
        state: 'recording' as const,
        ranges,
        segments: ranges.length * 6,
        bytes: 1000,
        deleted: 2,
      });
      index.apply(
        'v1',
        'gw',
        'cam',
        report(T0 + 10, [
          [T0 - 60_000, T0 - 30_000],
          [T0 - 20_000, T0],
        ]),
        T0,
      );
      // A retained copy older than what is held changes nothing.
      index.apply('v1', 'gw', 'cam', report(T0, [[T0 - 99_000, T0 - 98_000]]), T0 + 1);
      expect(index.view('gw', 'cam', 'v1')).toEqual({
        device: 'gw.cam',
        site: 'v1',
        stream: 'sub',
        state: 'recording',
        ranges: [
          [T0 - 60_000, T0 - 30_000],
          [T0 - 20_000, T0],
        ],
        gaps: [[T0 - 30_000, T0 - 20_000]],
        segments: 12,
        bytes: 1000,
        deleted: 2,
        updatedAt: T0,
      });
      expect(index.held('gw', 'cam', T0 - 40_000, T0 - 10_000)).toBe(20_000);
      expect(index.view('gw', 'other', 'v1')).toMatchObject({ ranges: [], state: null, updatedAt: null });

      let now = T0;
      const registry = {
        getDevice: (key: string) => (key === 'gw.cam' ? { kind: 'camera', site: 'v1' } : undefined),
        getGateway: () => ({ online: true, stale: false }),
      } as unknown as Registry;
      const evidence = new EvidenceService(
        state.handle,
        mkdtempSync(join(dir, 'evidence-')),
        registry,
        index,
        {} as CommandService,
        audit,
        bus,
        log,
        {
          clipBeforeMs: 30_000,
          clipAfterMs: 60_000,
          clipEventTypes: ['intrusion'],
          keepAfterCloseMs: HOUR,
          retryMs: 1000,
          maxAttempts: 3,
          maxClipBytes: 1_000_000,
          pullTimeoutMs: 10_000,
          tokenTtlMs: 60_000,
          clock: () => now,
        },
      );
      const clip = evidence.request({ device: 'gw.cam', site: 'v1', at: T0, alarm: 7 });
      expect(clip).toMatchObject({ state: 'pending', from: T0 - 30_000, to: T0 + 60_000, alarm: 7 });
      const upload = (
        state.handle.prepare('SELECT upload FROM evidence WHERE id = ?').get(clip.id) as {
          upload: string;
        }
      ).upload;
      const mp4 = tinyMp4(90_000);
      await expect(evidence.acceptUpload(upload, 'gw-other', Readable.from([mp4]))).rejects.toThrow();
      await expect(
        evidence.acceptUpload(upload, 'gw', Readable.from([Buffer.from('not a video at all')])),
      ).rejects.toThrow('not an MP4');
      const stored = await evidence.acceptUpload(upload, 'gw', Readable.from([mp4]));
      const sha256 = createHash('sha256').update(mp4).digest('hex');
      expect(stored).toMatchObject({ state: 'stored', sha256, bytes: mp4.length, durationMs: 90_000 });
      expect(audit.list({ limit: 10 }).find((e) => e.action === 'evidence.stored')?.detail).toMatchObject({
        sha256,
      });

      const officer = { username: 'duty', role: 'duty_officer' as const, sites: ['v1'], sid: 's' };
      const stranger = { username: 'op2', role: 'village_operator' as const, sites: ['v2'], sid: 's2' };
      expect(() => evidence.issueToken(stranger, clip.id)).toThrow();
      const { token } = evidence.issueToken(officer, clip.id);
      expect(evidence.redeem(token).view.sha256).toBe(sha256);
      expect(() => evidence.redeem(token)).toThrow('was used');
      expect(() => evidence.redeem('forged-token')).toThrow('invalid');
      const late = evidence.issueToken(officer, clip.id);
      now += 61_000;
      expect(() => evidence.redeem(late.token)).toThrow('expired');
      state.close();
    },
  );

  it.skipIf(backend.skip)('appends one audit chain from every hub, and verifies it', () => {
    const { db, second } = backend.open();
    const hub1 = services(db, () => T0);
    const hub2 = second ? services(second(), () => T0) : hub1;
    for (let i = 0; i < 20; i++)
      (i % 2 ? hub2 : hub1).audit.append({ actor: `u${i}`, action: 'login', outcome: 'ok', detail: { i } });
    const entries = hub1.audit.list({ limit: 100 });
    expect(entries.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => 20 - i));
    expect(hub1.audit.list({ actor: 'u3', limit: 10 }).map((e) => e.seq)).toEqual([4]);
    expect(hub1.audit.verify()).toEqual({ ok: true, entries: 20 });
    expect(hub2.audit.verify()).toEqual({ ok: true, entries: 20 });
    hub1.state.handle.prepare('UPDATE audit SET actor = ? WHERE seq = ?').run('mallory', 7);
    expect(verifyAuditChain(hub1.state.handle, '/nonexistent')).toMatchObject({
      ok: false,
      problem: { seq: 7 },
    });
    if (hub2 !== hub1) hub2.state.close();
    hub1.state.close();
  });

  it.skipIf(backend.skip)('rolls back a failed transaction and keeps working', () => {
    const { db } = backend.open();
    const { state } = services(db, () => T0);
    const h = state.handle;
    expect(() =>
      h.transaction(() => {
        state.setSetting('a', 1);
        h.transaction(() => state.setSetting('b', 2))();
        throw new Error('boom');
      })(),
    ).toThrow('boom');
    expect(state.getSetting('a')).toBeUndefined();
    expect(state.getSetting('b')).toBeUndefined();
    expect(() => h.prepare('SELECT * FROM no_such_table').all()).toThrow();
    state.setSetting('c', 3);
    expect(state.getSetting('c')).toBe(3);
    state.close();
  });

  it.skipIf(backend.skip)(
    'claims each message once across hubs; a failed store claims nothing; old claims pruned',
    async () => {
      const { db, second } = backend.open();
      const { state } = services(db, () => T0);
      const hubA = new IngestClaims(state.handle, () => T0);
      const hubB = new IngestClaims(second ? second() : state.handle, () => T0 + HOUR);
      const ids = (from: number, to: number) =>
        Array.from({ length: to - from + 1 }, (_, i) => ({
          gateway: 'gw',
          lane: 'bulk' as const,
          epoch: 'e1',
          seq: from + i,
        }));
      let freshA: Set<string> = new Set();
      await hubA.storeOnce(ids(1, 600), async (fresh) => {
        freshA = fresh;
      });
      expect(freshA.size).toBe(600);
      // The other hub gets a redelivery overlapping what was stored, out of order, with a repeat.
      let freshB: Set<string> = new Set();
      await hubB.storeOnce([...ids(590, 610).reverse(), ...ids(605, 605)], async (fresh) => {
        freshB = fresh;
      });
      expect([...freshB].map((k) => Number(k.split('\u0000')[3])).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 10 }, (_, i) => 601 + i),
      );
      // A write that fails rolls its claims back: the retry (or another hub) claims them again.
      await expect(
        hubA.storeOnce(ids(611, 620), async () => {
          throw new Error('store down');
        }),
      ).rejects.toThrow('store down');
      await hubB.storeOnce(ids(611, 620), async (fresh) => {
        freshB = fresh;
      });
      expect(freshB.size).toBe(10);
      expect(hubA.count()).toBe(620);
      expect(hubA.prune(T0 + 1)).toBe(600);
      expect(hubA.count()).toBe(20);
      state.close();
    },
  );
});

describe('schemas', () => {
  it.skipIf(!HAVE_PG)('SQLite and PostgreSQL migrations give the same tables and columns', () => {
    const sqlite = new StateDb(join(dir, 'schema.db')).handle;
    const postgres = new StateDb(
      new PostgresDatabase(pgOptions((pg as PostgresServer).createDatabase('schema_parity'))),
    ).handle;
    const fromSqlite = new Map<string, string[]>();
    for (const { name } of sqlite
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
      .all())
      fromSqlite.set(
        name,
        sqlite
          .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${name}')`)
          .all()
          .map((c) => c.name)
          .sort(),
      );
    const fromPostgres = new Map<string, string[]>();
    for (const r of postgres
      .prepare<[], { table_name: string; column_name: string }>(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_version'",
      )
      .all())
      fromPostgres.set(r.table_name, [...(fromPostgres.get(r.table_name) ?? []), r.column_name].sort());
    expect(Object.fromEntries([...fromPostgres].sort())).toEqual(Object.fromEntries([...fromSqlite].sort()));
  });
});

/** The smallest MP4 the hub takes: `ftyp`, then `moov` with an `mvhd` of the given duration. */
function tinyMp4(durationMs: number): Buffer {
  const box = (type: string, body: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(8 + body.length, 0);
    head.write(type, 4, 'latin1');
    return Buffer.concat([head, body]);
  };
  const mvhd = Buffer.alloc(100);
  mvhd.writeUInt32BE(1000, 12); // timescale
  mvhd.writeUInt32BE(durationMs, 16);
  return Buffer.concat([
    box('ftyp', Buffer.from('isom\0\0\x02\0isomiso2', 'latin1')),
    box('moov', box('mvhd', mvhd)),
  ]);
}

/**
 * The incident service with a controllable clock: the state machine (invalid transitions refused
 * with a clear error, nothing changed), SLA warnings and breaches at the right moments, the
 * escalation chain village → town → county (automatic on an accept breach, refused at the top),
 * return, and the KPI arithmetic.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncidentView } from '@qianliyan/protocols';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HubError } from '../../src/errors.ts';
import { AuditLog } from '../../src/services/audit-log.ts';
import { EventBus } from '../../src/services/event-bus.ts';
import { IncidentService, type NewIncident } from '../../src/services/incidents.ts';
import { createMetrics } from '../../src/services/metrics.ts';
import type { AuthUser } from '../../src/services/sessions.ts';
import { SiteTree } from '../../src/services/site-tree.ts';
import { StateDb } from '../../src/stores/state-db.ts';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 10, 1, 8);
const county: AuthUser = { username: 'county', role: 'duty_officer', sites: [], sid: 's1' };
const townUser: AuthUser = { username: 'town', role: 'duty_officer', sites: ['town', 'v1', 'v2'], sid: 's2' };
const v1Operator: AuthUser = { username: 'op1', role: 'village_operator', sites: ['v1'], sid: 's3' };
const v2Operator: AuthUser = { username: 'op2', role: 'village_operator', sites: ['v2'], sid: 's4' };

describe('incidents', () => {
  let dir: string;
  let db: StateDb;
  let now: number;
  let service: IncidentService;
  let changes: IncidentView[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qly-incidents-'));
    db = new StateDb(join(dir, 'state.db'));
    const log = pino({ level: 'silent' });
    const bus = new EventBus(createMetrics(), log);
    const tree = new SiteTree(db.handle);
    tree.upsert([
      { id: 'county', name: '县', level: 'county', parent: null },
      { id: 'town', name: '镇', level: 'town', parent: 'county' },
      { id: 'v1', name: '一村', level: 'village', parent: 'town' },
      { id: 'v2', name: '二村', level: 'village', parent: 'town' },
    ]);
    changes = [];
    bus.on('incidentChanged', 'test', ({ incident }) => changes.push(incident));
    now = T0;
    service = new IncidentService(
      db.handle,
      bus,
      tree,
      new AuditLog(db.handle, join(dir, 'audit-head'), log),
      log,
      {
        acceptMs: 8 * HOUR,
        resolveMs: 72 * HOUR,
        warnBeforeMs: HOUR,
        rules: [{ priority: 'urgent', acceptMs: HOUR / 2, resolveMs: 24 * HOUR, warnBeforeMs: 10 * 60_000 }],
        autoEscalate: true,
        clock: () => now,
      },
    );
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const report = (over: Partial<NewIncident> = {}) =>
    service.create(county, { title: '河堤渗水', category: 'flood', site: 'v1', source: 'officer', ...over });
  const act = (user: AuthUser, id: number, action: string, extra: object = {}) =>
    service.transition(user, id, { action, ...extra } as never);
  const events = (id: number) => (service.get(county, id).events ?? []).map((e) => e.action);

  it('walks report → accept → assign → start → resolve → close, recording who and when', () => {
    const i = report();
    expect(i.status).toBe('new');
    expect(i.accept.due).toBe(T0 + 8 * HOUR);
    now += 10 * 60_000;
    act(v1Operator, i.id, 'accept');
    act(v1Operator, i.id, 'assign', { assignee: '李四' });
    act(v1Operator, i.id, 'start', { note: '已到现场' });
    now += HOUR;
    act(v1Operator, i.id, 'resolve');
    const closed = act(county, i.id, 'close', { feedback: '已加固，村民满意' });
    expect(closed.status).toBe('closed');
    expect(closed.feedback).toBe('已加固，村民满意');
    expect(closed.accept.metAt).toBe(T0 + 10 * 60_000);
    const timeline = service.get(county, i.id).events ?? [];
    expect(timeline.map((e) => `${e.action}:${e.actor}:${e.from}->${e.to}`)).toEqual([
      'created:county:null->new',
      'accept:op1:new->accepted',
      'assign:op1:accepted->assigned',
      'start:op1:assigned->in_progress',
      'resolve:op1:in_progress->resolved',
      'close:county:resolved->closed',
    ]);
    expect(timeline.find((e) => e.action === 'start')?.note).toBe('已到现场');
  });

  it('refuses an invalid transition with a clear error and changes nothing', () => {
    const i = report();
    const before = changes.length;
    expect(() => act(county, i.id, 'resolve')).toThrow(
      /cannot resolve incident \d+: it is new \(resolve is allowed from in_progress\)/,
    );
    expect(() => act(county, i.id, 'close', { feedback: 'x' })).toThrowError(HubError);
    act(county, i.id, 'accept');
    act(county, i.id, 'start');
    act(county, i.id, 'resolve');
    expect(() => act(county, i.id, 'close')).toThrow(/close needs feedback/);
    expect(service.get(county, i.id).status).toBe('resolved');
    expect(changes.length - before).toBe(3);
  });

  it('warns before the accept deadline, marks the breach, and escalates village → town → county', () => {
    const i = report({ priority: 'urgent' }); // accept within 30 min, warned 10 min before
    service.sweep(T0 + 19 * 60_000);
    expect(events(i.id)).not.toContain('sla_warning');
    now = T0 + 20 * 60_000;
    service.sweep();
    expect(events(i.id)).toContain('sla_warning');
    expect(service.get(county, i.id).accept.warnedAt).toBe(now);
    now = T0 + 30 * 60_000;
    service.sweep();
    let v = service.get(county, i.id);
    expect(v.events?.find((e) => e.action === 'sla_breach')).toMatchObject({
      ts: T0 + 30 * 60_000,
      data: { timer: 'accept', due: T0 + 30 * 60_000 },
    });
    expect(v.status).toBe('escalated');
    expect(v.owner).toBe('town');
    // The town has its own 30 minutes; the village operator may read but no longer act.
    expect(v.accept.due).toBe(now + 30 * 60_000);
    expect(() => act(v1Operator, i.id, 'accept')).toThrow(/handled by 镇 now/);
    now += 30 * 60_000;
    service.sweep();
    v = service.get(county, i.id);
    expect(v.owner).toBe('county');
    expect(() => act(townUser, i.id, 'accept')).toThrow(/handled by 县/);
    // At the top: a breach stays a breach, nothing to escalate to.
    now += 30 * 60_000;
    service.sweep();
    v = service.get(county, i.id);
    expect(v.owner).toBe('county');
    expect(v.accept.breachedAt).toBe(now);
    expect(() => act(county, i.id, 'escalate')).toThrow(/top level/);
    // Returned to the town, which accepts.
    act(county, i.id, 'return', { note: '请镇里处理' });
    expect(service.get(county, i.id).owner).toBe('town');
    expect(act(townUser, i.id, 'accept').status).toBe('accepted');
    expect(events(i.id).filter((e) => e === 'escalate')).toHaveLength(2);
  });

  it('warns and marks a resolve deadline too', () => {
    const i = report();
    act(county, i.id, 'accept');
    now = T0 + 71 * HOUR;
    service.sweep();
    expect(service.get(county, i.id).resolve.warnedAt).toBe(now);
    expect(service.get(county, i.id).resolve.breachedAt).toBeNull();
    now = T0 + 72 * HOUR;
    service.sweep();
    expect(service.get(county, i.id).resolve.breachedAt).toBe(now);
    expect(service.get(county, i.id).status).toBe('accepted'); // a resolve breach does not move it
  });

  it('shows each village only its own incidents', () => {
    const mine = report();
    const theirs = report({ site: 'v2' });
    expect(service.list(v1Operator).map((i) => i.id)).toEqual([mine.id]);
    expect(
      service
        .list(townUser)
        .map((i) => i.id)
        .sort(),
    ).toEqual([mine.id, theirs.id].sort());
    expect(() => service.get(v1Operator, theirs.id)).toThrow(/outside your sites/);
    expect(() => act(v1Operator, theirs.id, 'accept')).toThrow(/outside your sites/);
    expect(() =>
      service.create(v2Operator, { title: 'x', category: 'flood', site: 'v1', source: 'village' }),
    ).toThrow(/outside your sites/);
  });

  it('computes acceptance, closure and on-time rates and mean times per village', () => {
    // v1: four incidents — accepted after 1 h and resolved after 5 h and closed; accepted after 3 h
    // and resolved after 80 h (late); accepted after 2 h, still open; never accepted.
    const a = report();
    const b = report();
    const c = report();
    report();
    const d = report({ site: 'v2' });
    now = T0 + HOUR;
    act(county, a.id, 'accept');
    now = T0 + 2 * HOUR;
    act(county, c.id, 'accept');
    now = T0 + 3 * HOUR;
    act(county, b.id, 'accept');
    act(county, a.id, 'start');
    act(county, b.id, 'start');
    now = T0 + 5 * HOUR;
    act(county, a.id, 'resolve');
    act(county, a.id, 'close', { feedback: 'ok' });
    now = T0 + 80 * HOUR;
    act(county, b.id, 'resolve');
    act(county, d.id, 'accept');
    const kpis = service.kpis(county, T0, T0 + 100 * HOUR);
    const v1 = kpis.find((k) => k.site === 'v1');
    expect(v1).toMatchObject({ created: 4, accepted: 3, closed: 1, acceptanceRate: 0.75, closureRate: 0.25 });
    // Due or resolved: all four (72 h passed); on time: only a.
    expect(v1?.onTimeRate).toBe(0.25);
    expect(v1?.meanTimeToAcceptMs).toBe(2 * HOUR); // (1 + 3 + 2) / 3
    expect(v1?.meanTimeToResolveMs).toBe((5 * HOUR + 80 * HOUR) / 2);
    const total = kpis.find((k) => k.site === 'total');
    expect(total).toMatchObject({
      created: 5,
      accepted: 4,
      closed: 1,
      acceptanceRate: 0.8,
      closureRate: 0.2,
    });
    expect(service.kpis(v2Operator, T0, T0 + 100 * HOUR).map((k) => k.site)).toEqual(['v2', 'total']);
  });
});

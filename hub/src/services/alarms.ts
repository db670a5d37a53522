/**
 * Alarms: what needs an officer, from three sources —
 *
 * - **events**: device events of severity warning or worse (an "end" of a state is not one; it
 *   clears the alarm its "start" raised). The same event type from the same device within
 *   `REPEAT_WINDOW_MS` of the last one is counted into the open alarm rather than listed again, so
 *   a camera that sees motion every few seconds makes one line with a count, not a flood. An event
 *   has no "back to normal": acknowledging an event alarm clears it.
 * - **health** and **rules** (conditions): raised while a condition holds and cleared by the hub
 *   when it ends, with its duration. A condition that comes back within `flapWindowMs` of clearing
 *   reopens the same alarm (its count goes up) instead of making a new one: a flapping device is
 *   one line.
 *
 * States (protocols/src/alarms.ts): active → acknowledged → cleared, or active →
 * cleared_unacknowledged → cleared. Every step is a line in the alarm's timeline. Unacknowledged
 * alarms are re-notified after `renotifyAfterMs` and escalated up the site tree (village → town →
 * county) every `escalateAfterMs` by `tick`, which the alarm scheduler calls (one place for the
 * timers, so a cluster can run it under a lease). Kept in the state DB (the event itself is in the
 * device's history in the time-series store); the oldest cleared alarms are pruned beyond
 * `MAX_ALARMS`.
 */
import {
  type AlarmSource,
  type AlarmState,
  type AlarmTimelineAction,
  type AlarmTimelineEntry,
  type AlarmView,
  type Severity,
  severityRank,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import type { SqlDatabase } from '../stores/sql.ts';
import type { EventBus } from './event-bus.ts';

const ALARM_SEVERITIES: ReadonlySet<Severity> = new Set(['warning', 'alarm', 'critical']);
const REPEAT_WINDOW_MS = 60_000;
const MAX_ALARMS = 50_000;

interface AlarmRow {
  id: number;
  ts: number;
  last_ts: number;
  count: number;
  site: string;
  device: string;
  type: string;
  severity: Severity;
  data: string | null;
  acked_by: string | null;
  acked_at: number | null;
  source: AlarmSource;
  state: AlarmState;
  owner: string;
  escalations: number;
  escalated_at: number | null;
  reason: string | null;
  rule: number | null;
  ack_note: string | null;
  cleared_at: number | null;
  duration_ms: number | null;
  notified_at: number;
  renotified: number;
  incident: number | null;
}

function view(r: AlarmRow): AlarmView {
  return {
    id: r.id,
    ts: r.ts,
    lastTs: r.last_ts,
    count: r.count,
    site: r.site,
    device: r.device,
    type: r.type,
    severity: r.severity,
    source: r.source,
    state: r.state,
    owner: r.owner || r.site,
    escalations: r.escalations,
    ...(r.data ? { data: JSON.parse(r.data) as Record<string, unknown> } : {}),
    ...(r.reason !== null ? { reason: r.reason } : {}),
    ...(r.rule !== null ? { rule: r.rule } : {}),
    ackedBy: r.acked_by,
    ackedAt: r.acked_at,
    ackNote: r.ack_note,
    clearedAt: r.cleared_at,
    durationMs: r.duration_ms,
    notifiedAt: r.notified_at,
    renotified: r.renotified,
    incident: r.incident,
  };
}

/** Where an event came from: its gateway's outbox stream and position in it. */
export interface EventOrigin {
  gateway: string;
  epoch: string;
  seq: number;
}

/** A condition the hub watches (a device's health, a rule on readings) as it starts or changes. */
export interface Condition {
  source: Exclude<AlarmSource, 'event'>;
  device: string;
  site: string;
  type: string;
  severity: Severity;
  reason?: string;
  rule?: number;
  data?: Record<string, unknown>;
}

export interface AlarmQuery {
  /** Sites the user sees (undefined: all); an alarm is listed when its place or owner is one. */
  sites?: readonly string[];
  /** Only alarms handled at one of these sites (the user's own level). */
  owners?: readonly string[];
  open?: boolean;
  states?: readonly AlarmState[];
  severities?: readonly Severity[];
  sources?: readonly AlarmSource[];
  type?: string;
  site?: readonly string[];
  device?: string;
  /** Words in the type, device, reason or acknowledgement note. */
  q?: string;
  from?: number;
  to?: number;
  /** Older than this id (paging, newest first). */
  before?: number;
  limit: number;
}

export interface AlarmOptions {
  clock: () => number;
  /** The site and its ancestors up to the county (escalation path). */
  ancestors: (site: string) => string[];
  /** A condition back within this long of clearing reopens its alarm. */
  flapWindowMs: number;
  renotifyAfterMs: number;
  renotifyMinSeverity: Severity;
  escalateAfterMs: number;
  escalateMinSeverity: Severity;
}

const DEFAULTS: AlarmOptions = {
  clock: Date.now,
  ancestors: (site) => [site],
  flapWindowMs: 10 * 60_000,
  renotifyAfterMs: 5 * 60_000,
  renotifyMinSeverity: 'alarm',
  escalateAfterMs: 10 * 60_000,
  escalateMinSeverity: 'alarm',
};

/** Rolls back an alarm opened for an event that was counted already. */
class AlreadyCounted extends Error {}

export class AlarmError extends Error {
  constructor(
    readonly code: 'not_found' | 'already_acknowledged',
    message: string,
  ) {
    super(message);
  }
}

export class AlarmService {
  private readonly stmt;
  private inserted = 0;
  readonly options: AlarmOptions;

  constructor(
    private readonly db: SqlDatabase,
    private readonly bus: EventBus,
    private readonly log: FastifyBaseLogger,
    options: Partial<AlarmOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
    this.stmt = {
      openFor: db.prepare<[string, string, number], AlarmRow>(
        "SELECT * FROM alarms WHERE device = ? AND type = ? AND source = 'event' AND acked_at IS NULL AND last_ts >= ? ORDER BY id DESC LIMIT 1",
      ),
      repeat: db.prepare<{ ts: number; id: number }>(
        // CASE, not max(a, b): the same SQL on SQLite and PostgreSQL (sql.ts).
        'UPDATE alarms SET count = count + 1, last_ts = CASE WHEN last_ts > @ts THEN last_ts ELSE @ts END WHERE id = @id',
      ),
      insert: db.prepare<
        {
          ts: number;
          site: string;
          device: string;
          type: string;
          severity: string;
          data: string | null;
          source: string;
          reason: string | null;
          rule: number | null;
        },
        { id: number }
      >(
        `INSERT INTO alarms (ts, last_ts, count, site, device, type, severity, data, source, state, owner,
           reason, rule, notified_at)
         VALUES (@ts, @ts, 1, @site, @device, @type, @severity, @data, @source, 'active', @site, @reason, @rule, @ts)
         RETURNING id`,
      ),
      seen: db.prepare<[string, string, number, number]>(
        'INSERT INTO alarm_events (gateway, epoch, seq, alarm) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      get: db.prepare<[number], AlarmRow>('SELECT * FROM alarms WHERE id = ?'),
      /** The alarm of a condition: open, or the latest cleared one (to reopen when it flaps). */
      condition: db.prepare<[string, string], AlarmRow>(
        "SELECT * FROM alarms WHERE device = ? AND type = ? AND source <> 'event' ORDER BY id DESC LIMIT 1",
      ),
      openConditions: db.prepare<[string], AlarmRow>(
        'SELECT * FROM alarms WHERE source = ? AND cleared_at IS NULL',
      ),
      timeline: db.prepare<[number, number, string, string, string | null, string | null]>(
        'INSERT INTO alarm_timeline (alarm, ts, actor, action, note, data) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      timelineOf: db.prepare<
        [number],
        { ts: number; actor: string; action: AlarmTimelineAction; note: string | null; data: string | null }
      >('SELECT ts, actor, action, note, data FROM alarm_timeline WHERE alarm = ? ORDER BY id'),
      due: db.prepare<[number], AlarmRow>(
        "SELECT * FROM alarms WHERE state = 'active' AND notified_at <= ? ORDER BY id LIMIT 500",
      ),
      dueEscalation: db.prepare<[number], AlarmRow>(
        "SELECT * FROM alarms WHERE state = 'active' AND CASE WHEN escalated_at IS NULL THEN ts ELSE escalated_at END <= ? ORDER BY id LIMIT 500",
      ),
      prune: db.prepare<[number]>(
        "DELETE FROM alarms WHERE state = 'cleared' AND id <= (SELECT id FROM alarms ORDER BY id DESC LIMIT 1 OFFSET ?)",
      ),
      pruneSeen: db.prepare('DELETE FROM alarm_events WHERE alarm NOT IN (SELECT id FROM alarms)'),
      pruneTimeline: db.prepare('DELETE FROM alarm_timeline WHERE alarm NOT IN (SELECT id FROM alarms)'),
    };
  }

  private now(): number {
    return this.options.clock();
  }

  start(): void {
    this.bus.on('deviceEvent', 'alarms', (e) => {
      if (!ALARM_SEVERITIES.has(e.severity)) return;
      if (e.data?.state === 'end') {
        this.clearEvent(e.key, e.type, e.ts);
        return;
      }
      this.raise(e.key, e.site, e.ts, e.type, e.severity, e.data, e.origin);
    });
  }

  /**
   * Raises (or counts into the open) event alarm. `origin`, the event's identity at its gateway,
   * makes it idempotent: an event delivered again — to another hub of a cluster, or after a crash
   * before its acknowledgement — is recognised in the same transaction and counted once (undefined
   * is returned).
   */
  raise(
    device: string,
    site: string,
    ts: number,
    type: string,
    severity: Severity,
    data?: Record<string, unknown>,
    origin?: EventOrigin,
  ): AlarmView | undefined {
    const id = this.db.transaction(() => {
      // Hubs raising alarms for one device at once must not both open one.
      this.db.lock(`alarm:${device}`);
      const open = this.stmt.openFor.get(device, type, ts - REPEAT_WINDOW_MS);
      let id: number;
      if (open) id = open.id;
      else {
        const summary = data ? JSON.stringify(data).slice(0, 2000) : null;
        id = this.insert({ ts, site, device, type, severity, data: summary, source: 'event' });
      }
      if (origin && this.stmt.seen.run(origin.gateway, origin.epoch, origin.seq, id).changes === 0) {
        if (!open) throw new AlreadyCounted();
        return undefined;
      }
      if (open) this.stmt.repeat.run({ ts, id });
      else this.pruneNow();
      return { id, fresh: !open };
    });
    let raised: { id: number; fresh: boolean } | undefined;
    try {
      raised = id();
    } catch (err) {
      if (err instanceof AlreadyCounted) return undefined;
      throw err;
    }
    if (raised === undefined) return undefined;
    return this.announce(raised.id, raised.fresh);
  }

  /**
   * A condition holds (a device is down, a rule's reading is out of bounds): opens its alarm, or
   * reopens it when it cleared within the flap window, or updates the open one's reason. Returns
   * the alarm when something changed.
   */
  raiseCondition(c: Condition, now = this.now()): AlarmView | undefined {
    let fresh = false;
    const changed = this.db.transaction((): number | undefined => {
      this.db.lock(`alarm:${c.device}`);
      const last = this.stmt.condition.get(c.device, c.type);
      if (last && last.cleared_at === null) {
        if ((c.reason ?? null) === last.reason && c.severity === last.severity) return undefined;
        this.db
          .prepare('UPDATE alarms SET reason = ?, severity = ? WHERE id = ?')
          .run(c.reason ?? null, c.severity, last.id);
        return last.id;
      }
      if (last && last.cleared_at !== null && now - last.cleared_at <= this.options.flapWindowMs) {
        // Flapping: one alarm with a count. It wants an acknowledgement again.
        this.db
          .prepare(
            `UPDATE alarms SET count = count + 1, last_ts = ?, cleared_at = NULL, duration_ms = NULL,
               state = 'active', acked_by = NULL, acked_at = NULL, ack_note = NULL, reason = ?, severity = ?,
               notified_at = ? WHERE id = ?`,
          )
          .run(now, c.reason ?? null, c.severity, now, last.id);
        this.addTimeline(last.id, now, 'hub', 'reopened', c.reason ?? null, { count: last.count + 1 });
        return last.id;
      }
      const id = this.insert({
        ts: now,
        site: c.site,
        device: c.device,
        type: c.type,
        severity: c.severity,
        data: c.data ? JSON.stringify(c.data).slice(0, 2000) : null,
        source: c.source,
        reason: c.reason ?? null,
        rule: c.rule ?? null,
      });
      this.pruneNow();
      fresh = true;
      return id;
    })();
    return changed === undefined ? undefined : this.announce(changed, fresh);
  }

  /** A condition ended: its open alarm clears, with how long it lasted (this occurrence). */
  clearCondition(device: string, type: string, now = this.now(), note?: string): AlarmView | undefined {
    const id = this.db.transaction((): number | undefined => {
      this.db.lock(`alarm:${device}`);
      const open = this.stmt.condition.get(device, type);
      if (!open || open.cleared_at !== null) return undefined;
      this.clearRow(open, now, note);
      return open.id;
    })();
    return id === undefined ? undefined : this.announce(id);
  }

  /** The open condition alarms of one source (health, rule), to reconcile after a restart. */
  openConditions(source: Exclude<AlarmSource, 'event'>): AlarmView[] {
    return this.stmt.openConditions.all(source).map(view);
  }

  private clearEvent(device: string, type: string, ts: number): void {
    const open = this.stmt.openFor.get(device, type, 0);
    if (!open || open.cleared_at !== null) return;
    this.db.transaction(() => this.clearRow(open, Math.max(ts, open.ts)))();
    this.announce(open.id);
  }

  private clearRow(row: AlarmRow, now: number, note?: string): void {
    const durationMs = Math.max(0, now - row.last_ts);
    const state: AlarmState = row.acked_at === null ? 'cleared_unacknowledged' : 'cleared';
    this.db
      .prepare('UPDATE alarms SET cleared_at = ?, duration_ms = ?, state = ? WHERE id = ?')
      .run(now, durationMs, state, row.id);
    this.addTimeline(row.id, now, 'hub', 'cleared', note ?? null, { durationMs });
  }

  private insert(row: {
    ts: number;
    site: string;
    device: string;
    type: string;
    severity: string;
    data: string | null;
    source: AlarmSource;
    reason?: string | null;
    rule?: number | null;
  }): number {
    const id = (
      this.stmt.insert.get({ reason: null, rule: null, ...row }) as {
        id: number;
      }
    ).id;
    this.addTimeline(id, row.ts, 'hub', 'raised', row.reason ?? null);
    return id;
  }

  private pruneNow(): void {
    if (++this.inserted % 1000 !== 0) return;
    this.stmt.prune.run(MAX_ALARMS);
    this.stmt.pruneSeen.run();
    this.stmt.pruneTimeline.run();
  }

  private addTimeline(
    alarm: number,
    ts: number,
    actor: string,
    action: AlarmTimelineAction,
    note: string | null,
    data?: Record<string, unknown>,
  ): void {
    this.stmt.timeline.run(alarm, ts, actor, action, note, data ? JSON.stringify(data) : null);
  }

  /** Tells the bus (live, linkage) and, for a new alarm, the notification channels. */
  private announce(id: number, fresh = false): AlarmView | undefined {
    const row = this.stmt.get.get(id);
    if (!row) return undefined;
    const alarm = view(row);
    this.bus.emit('alarmChanged', { alarm });
    if (fresh) this.bus.emit('alarmNotify', { alarm, reason: 'raised', step: 0 });
    return alarm;
  }

  /** Alarms, newest first, matching the query. */
  list(query: AlarmQuery): AlarmView[] {
    const where: string[] = [];
    const args: unknown[] = [];
    const inList = (column: string, values: readonly unknown[]) => {
      where.push(`${column} IN (${values.map(() => '?').join(',')})`);
      args.push(...values);
    };
    if (query.sites) {
      if (query.sites.length === 0) return [];
      where.push(
        `(site IN (${query.sites.map(() => '?').join(',')}) OR owner IN (${query.sites.map(() => '?').join(',')}))`,
      );
      args.push(...query.sites, ...query.sites);
    }
    if (query.owners) {
      if (query.owners.length === 0) return [];
      inList('owner', query.owners);
    }
    if (query.open) where.push('acked_at IS NULL');
    if (query.states?.length) inList('state', query.states);
    if (query.severities?.length) inList('severity', query.severities);
    if (query.sources?.length) inList('source', query.sources);
    if (query.site?.length) inList('site', query.site);
    if (query.type) {
      where.push('type = ?');
      args.push(query.type);
    }
    if (query.device) {
      where.push('device = ?');
      args.push(query.device);
    }
    if (query.q) {
      // LIKE with the wildcards of the words escaped: a search for "50%" finds "50%".
      const like = `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push(
        "(lower(type) LIKE ? ESCAPE '\\' OR lower(device) LIKE ? ESCAPE '\\' OR lower(COALESCE(reason, '')) LIKE ? ESCAPE '\\' OR lower(COALESCE(ack_note, '')) LIKE ? ESCAPE '\\')",
      );
      args.push(like, like, like, like);
    }
    if (query.from !== undefined) {
      where.push('last_ts >= ?');
      args.push(query.from);
    }
    if (query.to !== undefined) {
      where.push('ts <= ?');
      args.push(query.to);
    }
    if (query.before !== undefined) {
      where.push('id < ?');
      args.push(query.before);
    }
    const sql = `SELECT * FROM alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return this.db
      .prepare<unknown[], AlarmRow>(sql)
      .all(...args, query.limit)
      .map(view);
  }

  get(id: number): AlarmView | undefined {
    const r = this.stmt.get.get(id);
    return r ? view(r) : undefined;
  }

  timeline(id: number): AlarmTimelineEntry[] {
    return this.stmt.timelineOf.all(id).map((e) => ({
      ts: e.ts,
      actor: e.actor,
      action: e.action,
      note: e.note,
      ...(e.data ? { data: JSON.parse(e.data) as Record<string, unknown> } : {}),
    }));
  }

  /**
   * Acknowledges an alarm not acknowledged yet: active → acknowledged (an event alarm: cleared),
   * cleared_unacknowledged → cleared. Throws AlarmError when there is nothing to acknowledge.
   */
  acknowledge(id: number, username: string, note?: string, now = this.now()): AlarmView {
    const changed = this.db.transaction(() => {
      const row = this.stmt.get.get(id);
      if (!row) throw new AlarmError('not_found', 'no such alarm');
      if (row.acked_at !== null) throw new AlarmError('already_acknowledged', 'already acknowledged');
      const clearsNow = row.source === 'event' && row.cleared_at === null;
      const state: AlarmState = row.cleared_at !== null || clearsNow ? 'cleared' : 'acknowledged';
      this.db
        .prepare(
          `UPDATE alarms SET acked_by = ?, acked_at = ?, ack_note = ?, state = ?,
             cleared_at = CASE WHEN cleared_at IS NULL AND ? = 1 THEN ? ELSE cleared_at END
           WHERE id = ? AND acked_at IS NULL`,
        )
        .run(username, now, note ?? null, state, clearsNow ? 1 : 0, now, id);
      this.addTimeline(id, now, username, 'acknowledged', note ?? null);
      return id;
    })();
    this.log.info({ id, by: username }, 'alarm acknowledged');
    return this.announce(changed) as AlarmView;
  }

  /** Records the incident opened from an alarm (its timeline and its view). */
  linkIncident(id: number, incident: number, username: string, now = this.now()): AlarmView | undefined {
    this.db.transaction(() => {
      this.db.prepare('UPDATE alarms SET incident = ? WHERE id = ?').run(incident, id);
      this.addTimeline(id, now, username, 'incident', null, { incident });
    })();
    return this.announce(id);
  }

  /** Writes a line into an alarm's timeline (a notification sent) without changing it. */
  note(id: number, action: AlarmTimelineAction, note: string | null, data?: Record<string, unknown>): void {
    this.addTimeline(id, this.now(), 'hub', action, note, data);
  }

  /**
   * The timers: an active (unacknowledged, not cleared) alarm of at least the configured severity is
   * re-notified every `renotifyAfterMs` and goes up one level of the site tree every
   * `escalateAfterMs`, each step in its timeline and announced (`alarmChanged`, and `alarmNotify`
   * for the notification channels). Run by the alarm scheduler.
   */
  tick(now = this.now()): void {
    const o = this.options;
    if (o.renotifyAfterMs > 0)
      for (const row of this.stmt.due.all(now - o.renotifyAfterMs)) {
        if (severityRank(row.severity) < severityRank(o.renotifyMinSeverity)) continue;
        this.db.transaction(() => {
          this.db
            .prepare('UPDATE alarms SET notified_at = ?, renotified = renotified + 1 WHERE id = ?')
            .run(now, row.id);
          this.addTimeline(row.id, now, 'hub', 'renotified', null, { times: row.renotified + 1 });
        })();
        const alarm = this.announce(row.id);
        if (alarm) this.bus.emit('alarmNotify', { alarm, reason: 'renotified', step: alarm.renotified });
      }
    if (o.escalateAfterMs > 0)
      for (const row of this.stmt.dueEscalation.all(now - o.escalateAfterMs)) {
        if (severityRank(row.severity) < severityRank(o.escalateMinSeverity)) continue;
        const path = o.ancestors(row.site);
        const at = path.indexOf(row.owner || row.site);
        const next = at >= 0 ? path[at + 1] : undefined;
        if (!next) continue; // the county has it: nowhere further to go
        this.db.transaction(() => {
          this.db
            .prepare(
              'UPDATE alarms SET owner = ?, escalations = escalations + 1, escalated_at = ?, notified_at = ? WHERE id = ?',
            )
            .run(next, now, now, row.id);
          this.addTimeline(row.id, now, 'hub', 'escalated', null, { from: row.owner || row.site, to: next });
        })();
        this.log.info({ id: row.id, to: next }, 'alarm escalated');
        const alarm = this.announce(row.id);
        if (alarm) this.bus.emit('alarmNotify', { alarm, reason: 'escalated', step: alarm.escalations });
      }
  }
}

/**
 * Alarms: device events that need an officer (severity warning, alarm or critical; an "end" of a
 * state is not one), listed until acknowledged. The same event type from the same device within
 * `REPEAT_WINDOW_MS` of the last one is counted into the open alarm rather than listed again, so a
 * camera that sees motion every few seconds makes one line with a count, not a flood. Kept in the
 * state DB (the event itself is in the device's history in the time-series store); the oldest
 * acknowledged alarms are pruned beyond `MAX_ALARMS`.
 */
import type { AlarmView, Severity } from '@qianliyan/protocols';
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
    ...(r.data ? { data: JSON.parse(r.data) as Record<string, unknown> } : {}),
    ackedBy: r.acked_by,
    ackedAt: r.acked_at,
  };
}

/** Where an event came from: its gateway's outbox stream and position in it. */
export interface EventOrigin {
  gateway: string;
  epoch: string;
  seq: number;
}

/** Rolls back an alarm opened for an event that was counted already. */
class AlreadyCounted extends Error {}

export class AlarmService {
  private readonly stmt;
  private inserted = 0;

  constructor(
    private readonly db: SqlDatabase,
    private readonly bus: EventBus,
    private readonly log: FastifyBaseLogger,
  ) {
    this.stmt = {
      openFor: db.prepare<[string, string, number], AlarmRow>(
        'SELECT * FROM alarms WHERE device = ? AND type = ? AND acked_at IS NULL AND last_ts >= ? ORDER BY id DESC LIMIT 1',
      ),
      repeat: db.prepare<{ ts: number; id: number }>(
        // CASE, not max(a, b): the same SQL on SQLite and PostgreSQL (sql.ts).
        'UPDATE alarms SET count = count + 1, last_ts = CASE WHEN last_ts > @ts THEN last_ts ELSE @ts END WHERE id = @id',
      ),
      insert: db.prepare<[number, number, string, string, string, string, string | null], { id: number }>(
        'INSERT INTO alarms (ts, last_ts, count, site, device, type, severity, data) VALUES (?, ?, 1, ?, ?, ?, ?, ?) RETURNING id',
      ),
      seen: db.prepare<[string, string, number, number]>(
        'INSERT INTO alarm_events (gateway, epoch, seq, alarm) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING',
      ),
      get: db.prepare<[number], AlarmRow>('SELECT * FROM alarms WHERE id = ?'),
      ack: db.prepare<[string, number, number]>(
        'UPDATE alarms SET acked_by = ?, acked_at = ? WHERE id = ? AND acked_at IS NULL',
      ),
      prune: db.prepare<[number]>(
        'DELETE FROM alarms WHERE acked_at IS NOT NULL AND id <= (SELECT id FROM alarms ORDER BY id DESC LIMIT 1 OFFSET ?)',
      ),
      pruneSeen: db.prepare('DELETE FROM alarm_events WHERE alarm NOT IN (SELECT id FROM alarms)'),
    };
  }

  start(): void {
    this.bus.on('deviceEvent', 'alarms', (e) => {
      if (!ALARM_SEVERITIES.has(e.severity) || e.data?.state === 'end') return;
      this.raise(e.key, e.site, e.ts, e.type, e.severity, e.data, e.origin);
    });
  }

  /**
   * Raises (or counts into the open) alarm. `origin`, the event's identity at its gateway, makes it
   * idempotent: an event delivered again — to another hub of a cluster, or after a crash before its
   * acknowledgement — is recognised in the same transaction and counted once (undefined is returned).
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
        id = (this.stmt.insert.get(ts, ts, site, device, type, severity, summary) as { id: number }).id;
      }
      if (origin && this.stmt.seen.run(origin.gateway, origin.epoch, origin.seq, id).changes === 0) {
        if (!open) throw new AlreadyCounted();
        return undefined;
      }
      if (open) this.stmt.repeat.run({ ts, id });
      else if (++this.inserted % 1000 === 0) {
        this.stmt.prune.run(MAX_ALARMS);
        this.stmt.pruneSeen.run();
      }
      return id;
    });
    let raised: number | undefined;
    try {
      raised = id();
    } catch (err) {
      if (err instanceof AlreadyCounted) return undefined;
      throw err;
    }
    if (raised === undefined) return undefined;
    const alarm = view(this.stmt.get.get(raised) as AlarmRow);
    this.bus.emit('alarmChanged', { alarm });
    return alarm;
  }

  /** Alarms, newest first, of the given sites (undefined: all), open ones only if asked. */
  list(options: { sites?: readonly string[]; open?: boolean; limit: number; device?: string }): AlarmView[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (options.open) where.push('acked_at IS NULL');
    if (options.device) {
      where.push('device = ?');
      args.push(options.device);
    }
    if (options.sites) {
      if (options.sites.length === 0) return [];
      where.push(`site IN (${options.sites.map(() => '?').join(',')})`);
      args.push(...options.sites);
    }
    const sql = `SELECT * FROM alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args, options.limit) as AlarmRow[]).map(view);
  }

  get(id: number): AlarmView | undefined {
    const r = this.stmt.get.get(id);
    return r ? view(r) : undefined;
  }

  /** Acknowledges an open alarm; the alarm as it is now (undefined when there is no such alarm). */
  acknowledge(id: number, username: string, now = Date.now()): AlarmView | undefined {
    const changed = this.stmt.ack.run(username, now, id).changes === 1;
    const alarm = this.get(id);
    if (changed && alarm) {
      this.log.info({ id, by: username }, 'alarm acknowledged');
      this.bus.emit('alarmChanged', { alarm });
    }
    return alarm;
  }
}

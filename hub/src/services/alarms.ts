/**
 * Alarms: device events that need an officer (severity warning, alarm or critical; an "end" of a
 * state is not one), listed until acknowledged. The same event type from the same device within
 * `REPEAT_WINDOW_MS` of the last one is counted into the open alarm rather than listed again, so a
 * camera that sees motion every few seconds makes one line with a count, not a flood. Kept in the
 * state DB (the event itself is in the device's history in the time-series store); the oldest
 * acknowledged alarms are pruned beyond `MAX_ALARMS`.
 */
import type { AlarmView, Severity } from '@qianliyan/protocols';
import type Database from 'better-sqlite3';
import type { FastifyBaseLogger } from 'fastify';
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

export class AlarmService {
  private readonly stmt;
  private inserted = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly bus: EventBus,
    private readonly log: FastifyBaseLogger,
  ) {
    this.stmt = {
      openFor: db.prepare<[string, string, number], AlarmRow>(
        'SELECT * FROM alarms WHERE device = ? AND type = ? AND acked_at IS NULL AND last_ts >= ? ORDER BY id DESC LIMIT 1',
      ),
      repeat: db.prepare<[number, number]>(
        'UPDATE alarms SET count = count + 1, last_ts = max(last_ts, ?) WHERE id = ?',
      ),
      insert: db.prepare<[number, number, string, string, string, string, string | null]>(
        'INSERT INTO alarms (ts, last_ts, count, site, device, type, severity, data) VALUES (?, ?, 1, ?, ?, ?, ?, ?)',
      ),
      get: db.prepare<[number], AlarmRow>('SELECT * FROM alarms WHERE id = ?'),
      ack: db.prepare<[string, number, number]>(
        'UPDATE alarms SET acked_by = ?, acked_at = ? WHERE id = ? AND acked_at IS NULL',
      ),
      prune: db.prepare<[number]>(
        'DELETE FROM alarms WHERE acked_at IS NOT NULL AND id <= (SELECT id FROM alarms ORDER BY id DESC LIMIT 1 OFFSET ?)',
      ),
    };
  }

  start(): void {
    this.bus.on('deviceEvent', 'alarms', (e) => {
      if (!ALARM_SEVERITIES.has(e.severity) || e.data?.state === 'end') return;
      this.raise(e.key, e.site, e.ts, e.type, e.severity, e.data);
    });
  }

  raise(
    device: string,
    site: string,
    ts: number,
    type: string,
    severity: Severity,
    data?: Record<string, unknown>,
  ): AlarmView {
    const open = this.stmt.openFor.get(device, type, ts - REPEAT_WINDOW_MS);
    let id: number;
    if (open) {
      this.stmt.repeat.run(ts, open.id);
      id = open.id;
    } else {
      const summary = data ? JSON.stringify(data).slice(0, 2000) : null;
      id = Number(this.stmt.insert.run(ts, ts, site, device, type, severity, summary).lastInsertRowid);
      if (++this.inserted % 1000 === 0) this.stmt.prune.run(MAX_ALARMS);
    }
    const alarm = view(this.stmt.get.get(id) as AlarmRow);
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

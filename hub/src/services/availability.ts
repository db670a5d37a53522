/**
 * The availability report (在线率): per village and device kind, each day's share of device-time
 * online, from the health record the health service keeps (`health_events`: one row per change of
 * a device's or gateway's availability, as the hub saw it). A subject counts from its first record;
 * its state at the start of the window is its last record before it. The hub's own downtime is not
 * known to it: the state last recorded is taken to have lasted through it.
 */
import type { AvailabilityReport, AvailabilityRow } from '@qianliyan/protocols';
import type { SqlDatabase } from '../stores/sql.ts';

const DAY = 86_400_000;

interface EventRow {
  subject: string;
  site: string;
  kind: string;
  ts: number;
  online: number;
}

export function availabilityReport(
  db: SqlDatabase,
  options: { now: number; days: number; timeZoneOffsetMinutes: number; sites?: readonly string[] },
): AvailabilityReport {
  const offset = options.timeZoneOffsetMinutes * 60_000;
  // Days in the report's time zone; the last one is today, up to now.
  const todayStart = Math.floor((options.now + offset) / DAY) * DAY - offset;
  const from = todayStart - (options.days - 1) * DAY;
  const to = options.now;
  const before = db
    .prepare<[number, number], EventRow>(
      `SELECT h.subject, h.site, h.kind, h.ts, h.online FROM health_events h
         JOIN (SELECT subject, max(id) AS id FROM health_events WHERE ts < ? GROUP BY subject) l ON h.id = l.id
       WHERE h.ts < ?`,
    )
    .all(from, from);
  const during = db
    .prepare<[number, number], EventRow>(
      'SELECT subject, site, kind, ts, online FROM health_events WHERE ts >= ? AND ts <= ? ORDER BY id',
    )
    .all(from, to);
  const scope = options.sites ? new Set(options.sites) : null;
  const bySubject = new Map<string, EventRow[]>();
  for (const e of [...before, ...during]) {
    if (scope && !scope.has(e.site)) continue;
    const list = bySubject.get(e.subject) ?? [];
    list.push(e);
    bySubject.set(e.subject, list);
  }
  // (day, site, kind) → device-ms observed and offline
  const cells = new Map<
    string,
    { day: number; site: string; kind: string; observed: number; offline: number; subjects: Set<string> }
  >();
  const add = (subject: string, site: string, kind: string, start: number, end: number, online: boolean) => {
    for (let day = Math.max(from, Math.floor((start + offset) / DAY) * DAY - offset); day < end; day += DAY) {
      const a = Math.max(start, day);
      const b = Math.min(end, day + DAY);
      if (b <= a) continue;
      const key = `${day}|${site}|${kind}`;
      let cell = cells.get(key);
      if (!cell) {
        cell = { day, site, kind, observed: 0, offline: 0, subjects: new Set() };
        cells.set(key, cell);
      }
      cell.observed += b - a;
      if (!online) cell.offline += b - a;
      cell.subjects.add(subject);
    }
  };
  for (const [subject, events] of bySubject) {
    events.sort((a, b) => a.ts - b.ts);
    for (let i = 0; i < events.length; i++) {
      const e = events[i] as EventRow;
      const start = Math.max(e.ts, from);
      const end = i + 1 < events.length ? (events[i + 1] as EventRow).ts : to;
      if (end > start) add(subject, e.site, e.kind, start, end, e.online === 1);
    }
  }
  const rows: AvailabilityRow[] = [...cells.values()]
    .map((c) => ({
      day: new Date(c.day + offset).toISOString().slice(0, 10),
      site: c.site,
      kind: c.kind as AvailabilityRow['kind'],
      devices: c.subjects.size,
      onlineRate: Math.round((1 - c.offline / c.observed) * 10_000) / 10_000,
      offlineMs: c.offline,
    }))
    .sort(
      (a, b) => a.day.localeCompare(b.day) || a.site.localeCompare(b.site) || a.kind.localeCompare(b.kind),
    );
  return { from, to, timeZoneOffsetMinutes: options.timeZoneOffsetMinutes, rows };
}

export function availabilityCsv(report: AvailabilityReport, siteName: (id: string) => string): string {
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const lines = ['day,site,site_name,kind,devices,online_rate,offline_minutes'];
  for (const r of report.rows)
    lines.push(
      [
        r.day,
        quote(r.site),
        quote(siteName(r.site)),
        r.kind,
        r.devices,
        r.onlineRate.toFixed(4),
        Math.round(r.offlineMs / 60_000),
      ].join(','),
    );
  return `${lines.join('\n')}\n`;
}

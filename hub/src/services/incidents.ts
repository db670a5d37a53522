/**
 * Incidents: a problem from its report to its closure (protocols/src/incidents.ts). Kept in the state
 * DB with every transition (who, when, note). The owner is the level handling it: the village where it
 * happened, or a town / county above it after escalation (the site tree's ancestors). A user sees an
 * incident when the place or the owner is in their scope, and acts on it only when the owner is.
 *
 * SLA timers per incident: accept-by and resolve-by from the config (per category and priority),
 * a warning `warnBeforeMs` before each and a mark on breach, found by `sweep()` (every second, and
 * callable with any clock for tests); with `autoEscalate` an accept breach escalates to the level
 * above. Changes are announced on the bus (`incidentChanged`).
 */
import {
  ACCESS,
  type Attachment,
  hasRole,
  INCIDENT_TRANSITIONS,
  type IncidentAction,
  type IncidentEvent,
  type IncidentKpis,
  type IncidentPriority,
  type IncidentStatus,
  type IncidentTransition,
  type IncidentView,
  scopeSites,
  userMaySee,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import { HubError } from '../errors.ts';
import type { SqlDatabase } from '../stores/sql.ts';
import type { AuditLog } from './audit-log.ts';
import type { EventBus, IncidentRequest } from './event-bus.ts';
import type { AuthUser } from './sessions.ts';
import type { SiteTree } from './site-tree.ts';

export interface SlaRule {
  category?: string;
  priority?: IncidentPriority;
  acceptMs: number;
  resolveMs: number;
  warnBeforeMs?: number;
}

export interface IncidentOptions {
  acceptMs: number;
  resolveMs: number;
  warnBeforeMs: number;
  rules: SlaRule[];
  autoEscalate: boolean;
  clock: () => number;
}

const OPEN = "status NOT IN ('resolved', 'closed')";
const MAX_LIST = 1000;

interface Row {
  id: number;
  title: string;
  category: string;
  priority: IncidentPriority;
  status: IncidentStatus;
  source: IncidentView['source'];
  site: string;
  owner: string;
  lat: number | null;
  lon: number | null;
  description: string;
  devices: string;
  attachments: string;
  alarm: number | null;
  assignee: string | null;
  feedback: string | null;
  created_at: number;
  created_by: string;
  updated_at: number;
  accept_due: number;
  accept_warned: number | null;
  accept_breached: number | null;
  accepted_at: number | null;
  first_accepted_at: number | null;
  resolve_due: number;
  resolve_warned: number | null;
  resolve_breached: number | null;
  resolved_at: number | null;
  closed_at: number | null;
  late: number;
}

interface EventRow {
  ts: number;
  actor: string;
  action: string;
  from_status: string | null;
  to_status: string | null;
  note: string | null;
  data: string | null;
}

export type NewIncident = IncidentRequest & {
  source: IncidentView['source'];
  alarm?: number;
};

export class IncidentService {
  private readonly stmt;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: SqlDatabase,
    private readonly bus: EventBus,
    private readonly tree: SiteTree,
    private readonly audit: AuditLog,
    private readonly log: FastifyBaseLogger,
    private readonly options: IncidentOptions,
  ) {
    this.stmt = {
      get: db.prepare<[number], Row>('SELECT * FROM incidents WHERE id = ?'),
      events: db.prepare<[number], EventRow>('SELECT * FROM incident_events WHERE incident = ? ORDER BY id'),
      event: db.prepare<
        [number, number, string, string, string | null, string | null, string | null, string | null]
      >(
        'INSERT INTO incident_events (incident, ts, actor, action, from_status, to_status, note, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      open: db.prepare<[], Row>(`SELECT * FROM incidents WHERE ${OPEN}`),
      openForAlarm: db.prepare<[number], Row>(`SELECT * FROM incidents WHERE alarm = ? AND ${OPEN} LIMIT 1`),
    };
  }

  /** `mayRun`: whether this hub does the cluster's scheduled work now (plugins/cluster.ts). */
  start(intervalMs = 1000, mayRun: () => boolean = () => true): void {
    this.timer = setInterval(() => {
      if (!mayRun()) return;
      try {
        this.sweep();
      } catch (err) {
        this.log.error({ err }, 'incident SLA sweep failed');
      }
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private now(): number {
    return this.options.clock();
  }

  private sla(
    category: string,
    priority: IncidentPriority,
  ): { acceptMs: number; resolveMs: number; warnBeforeMs: number } {
    // The most specific rule wins: category and priority, then category, then priority.
    const score = (r: SlaRule) => (r.category ? 2 : 0) + (r.priority ? 1 : 0);
    const rule = this.options.rules
      .filter((r) => (!r.category || r.category === category) && (!r.priority || r.priority === priority))
      .sort((a, b) => score(b) - score(a))[0];
    return {
      acceptMs: rule?.acceptMs ?? this.options.acceptMs,
      resolveMs: rule?.resolveMs ?? this.options.resolveMs,
      warnBeforeMs: rule?.warnBeforeMs ?? this.options.warnBeforeMs,
    };
  }

  /** An incident from an officer, a village operator, an alarm or a rule. */
  create(actor: AuthUser | undefined, input: NewIncident): IncidentView {
    if (actor) {
      if (!hasRole(actor.role, ACCESS.reportIncident))
        throw new HubError('HUB_ERR_FORBIDDEN', `the role ${actor.role} may not report incidents`);
      if (!userMaySee(actor, input.site))
        throw new HubError('HUB_ERR_FORBIDDEN', `${input.site} is outside your sites`, {
          field: 'site',
          reason: 'out_of_scope',
        });
    }
    // Three spaces are no title: a board of blank rows tells the next officer nothing.
    const title = input.title.trim();
    if (!title)
      throw new HubError('HUB_ERR_VALIDATION', 'the title is blank', { field: 'title', reason: 'blank' });
    if (input.alarm !== undefined) {
      const open = this.stmt.openForAlarm.get(input.alarm);
      if (open) return this.view(open); // one incident per alarm while it is open
    }
    const now = this.now();
    const priority = input.priority ?? 'normal';
    const sla = this.sla(input.category, priority);
    const by = actor?.username ?? 'system';
    const id = this.db.transaction(() => {
      const result = this.db
        .prepare(
          `INSERT INTO incidents (title, category, priority, status, source, site, owner, lat, lon, description,
             devices, attachments, alarm, created_at, created_by, updated_at, accept_due, resolve_due)
           VALUES (?, ?, ?, 'new', ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?) RETURNING id`,
        )
        .get(
          title,
          input.category,
          priority,
          input.source,
          input.site,
          input.site,
          input.location?.lat ?? null,
          input.location?.lon ?? null,
          input.description ?? '',
          JSON.stringify(input.devices ?? []),
          input.alarm ?? null,
          now,
          by,
          now,
          now + sla.acceptMs,
          now + sla.resolveMs,
        );
      const newId = (result as { id: number }).id;
      this.stmt.event.run(
        newId,
        now,
        by,
        'created',
        null,
        'new',
        null,
        JSON.stringify({ source: input.source }),
      );
      return newId;
    })();
    this.audit.append({
      actor: by,
      action: 'incident.create',
      target: String(id),
      outcome: 'ok',
      detail: { site: input.site, category: input.category, priority, source: input.source },
    });
    return this.changed(id);
  }

  /** One incident, with its timeline, if the user may see it. */
  get(user: AuthUser, id: number): IncidentView {
    return this.view(this.visibleRow(user, id), true);
  }

  /** Incidents in the user's scope, newest first. */
  list(
    user: AuthUser,
    filter: { status?: string; site?: string; priority?: string; open?: boolean; limit?: number } = {},
  ): IncidentView[] {
    return this.rows(user, filter, Math.min(filter.limit ?? 200, MAX_LIST)).map((r) => this.view(r));
  }

  /** Rows in the user's scope matching `filter`, newest first (all of them when no limit). */
  private rows(
    user: AuthUser,
    filter: { status?: string; site?: string; priority?: string; open?: boolean; from?: number; to?: number },
    limit?: number,
  ): Row[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.open) where.push(OPEN);
    if (filter.status) {
      where.push('status = ?');
      args.push(filter.status);
    }
    if (filter.priority) {
      where.push('priority = ?');
      args.push(filter.priority);
    }
    if (filter.from !== undefined && filter.to !== undefined) {
      where.push('created_at >= ? AND created_at < ?');
      args.push(filter.from, filter.to);
    }
    if (filter.site) {
      const ids = this.tree.subtree(filter.site);
      const sites = ids.length > 0 ? ids : [filter.site];
      where.push(`site IN (${sites.map(() => '?').join(',')})`);
      args.push(...sites);
    }
    const scope = scopeSites(user);
    if (scope?.length === 0) return [];
    if (scope) {
      const marks = scope.map(() => '?').join(',');
      where.push(`(site IN (${marks}) OR owner IN (${marks}))`);
      args.push(...scope, ...scope);
    }
    const sql = `SELECT * FROM incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC`;
    return limit === undefined
      ? this.db.prepare<unknown[], Row>(sql).all(...args)
      : this.db.prepare<unknown[], Row>(`${sql} LIMIT ?`).all(...args, limit);
  }

  /** Moves an incident by one action; an action its state does not allow is refused, nothing changed. */
  transition(user: AuthUser, id: number, body: IncidentTransition): IncidentView {
    const row = this.visibleRow(user, id);
    if (!hasRole(user.role, ACCESS.actOnIncident))
      throw new HubError('HUB_ERR_FORBIDDEN', `the role ${user.role} may not act on incidents`);
    if (!userMaySee(user, row.owner))
      throw new HubError(
        'HUB_ERR_FORBIDDEN',
        `incident ${id} is handled by ${this.tree.get(row.owner)?.name ?? row.owner} now, not by your level`,
      );
    return this.apply(row, body.action, user.username, body);
  }

  /** Adds a line to an incident's timeline (a linkage, a call) without changing its state. */
  note(id: number, actor: string, action: string, note?: string, data?: Record<string, unknown>): void {
    const row = this.stmt.get.get(id);
    if (!row) return;
    const now = this.now();
    this.stmt.event.run(id, now, actor, action, null, null, note ?? null, data ? JSON.stringify(data) : null);
    this.db.prepare('UPDATE incidents SET updated_at = ? WHERE id = ?').run(now, id);
    this.changed(id);
  }

  addAttachment(id: number, attachment: Omit<Attachment, 'url'>): Attachment[] {
    const row = this.stmt.get.get(id);
    if (!row) throw new HubError('HUB_ERR_NOT_FOUND', `no incident ${id}`);
    const list = JSON.parse(row.attachments) as Attachment[];
    if (list.length >= 20) throw new HubError('HUB_ERR_CONFLICT', 'an incident keeps at most 20 attachments');
    list.push({ ...attachment, url: `/api/incidents/${id}/attachments/${list.length}` });
    this.db
      .prepare('UPDATE incidents SET attachments = ?, updated_at = ? WHERE id = ?')
      .run(JSON.stringify(list), this.now(), id);
    this.changed(id);
    return list;
  }

  /** Whether `user` may see incident `id` (for attachments and calls). */
  visible(user: AuthUser, id: number): boolean {
    const row = this.stmt.get.get(id);
    return row !== undefined && this.maySee(user, row);
  }

  private apply(
    row: Row,
    action: IncidentAction,
    actor: string,
    body: Partial<IncidentTransition> = {},
  ): IncidentView {
    const rule = INCIDENT_TRANSITIONS[action];
    if (!(rule.from as readonly string[]).includes(row.status))
      throw new HubError(
        'HUB_ERR_CONFLICT',
        `cannot ${action} incident ${row.id}: it is ${row.status} (${action} is allowed from ${rule.from.join(', ')})`,
        { reason: 'wrong_state' },
      );
    const now = this.now();
    const set: Record<string, unknown> = { status: rule.to, updated_at: now };
    const sla = this.sla(row.category, row.priority);
    switch (action) {
      case 'accept':
        set.accepted_at = now;
        if (row.first_accepted_at === null) set.first_accepted_at = now;
        break;
      case 'assign':
        if (!body.assignee?.trim())
          throw new HubError('HUB_ERR_VALIDATION', 'assign needs an assignee', {
            field: 'assignee',
            reason: body.assignee === undefined ? 'required' : 'blank',
          });
        set.assignee = body.assignee.trim();
        break;
      case 'resolve':
        set.resolved_at = now;
        break;
      case 'reopen':
        set.resolved_at = null;
        break;
      case 'close':
        if (!body.feedback?.trim())
          throw new HubError('HUB_ERR_VALIDATION', 'close needs feedback', {
            field: 'feedback',
            reason: body.feedback === undefined ? 'required' : 'blank',
          });
        set.feedback = body.feedback.trim();
        set.closed_at = now;
        break;
      case 'escalate': {
        const chain = this.tree.ancestors(row.site);
        const at = chain.indexOf(row.owner);
        const up = at >= 0 ? chain[at + 1] : this.tree.get(row.owner)?.parent;
        if (!up)
          throw new HubError(
            'HUB_ERR_CONFLICT',
            `incident ${row.id} is at the top level already: nobody above to escalate to`,
          );
        set.owner = up;
        // The level above must accept it within its own deadline.
        set.accepted_at = null;
        set.accept_due = now + sla.acceptMs;
        set.accept_warned = null;
        set.accept_breached = null;
        break;
      }
      case 'return': {
        const chain = this.tree.ancestors(row.site);
        const at = chain.indexOf(row.owner);
        if (at <= 0)
          throw new HubError(
            'HUB_ERR_CONFLICT',
            `incident ${row.id} is at its own village: nobody below to return it to`,
          );
        set.owner = chain[at - 1];
        set.accepted_at = null;
        set.accept_due = now + sla.acceptMs;
        set.accept_warned = null;
        set.accept_breached = null;
        break;
      }
    }
    const columns = Object.keys(set);
    this.db.transaction(() => {
      this.db
        .prepare(`UPDATE incidents SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`)
        .run(...columns.map((c) => set[c]), row.id);
      this.stmt.event.run(
        row.id,
        now,
        actor,
        action,
        row.status,
        rule.to,
        body.note ?? null,
        set.owner
          ? JSON.stringify({ owner: set.owner })
          : set.assignee
            ? JSON.stringify({ assignee: set.assignee })
            : null,
      );
    })();
    this.audit.append({
      actor,
      action: `incident.${action}`,
      target: String(row.id),
      outcome: 'ok',
      detail: { from: row.status, to: rule.to, ...(set.owner ? { owner: set.owner } : {}) },
    });
    return this.changed(row.id);
  }

  /** SLA warnings and breaches due at `now`; with `autoEscalate`, an accept breach goes up a level. */
  sweep(now = this.now()): void {
    for (const row of this.stmt.open.all()) {
      const sla = this.sla(row.category, row.priority);
      const waitingForAccept =
        row.accepted_at === null && ['new', 'escalated', 'returned'].includes(row.status);
      const marks: Array<[string, string, number]> = [];
      if (waitingForAccept) {
        if (row.accept_warned === null && now >= row.accept_due - sla.warnBeforeMs)
          marks.push(['accept_warned', 'sla_warning', row.accept_due]);
        if (row.accept_breached === null && now >= row.accept_due)
          marks.push(['accept_breached', 'sla_breach', row.accept_due]);
      }
      if (row.resolved_at === null) {
        if (row.resolve_warned === null && now >= row.resolve_due - sla.warnBeforeMs)
          marks.push(['resolve_warned', 'sla_warning', row.resolve_due]);
        if (row.resolve_breached === null && now >= row.resolve_due)
          marks.push(['resolve_breached', 'sla_breach', row.resolve_due]);
      }
      if (marks.length === 0) continue;
      // Each mark is set only where it is still unset: a sweep that raced another (another hub's,
      // or one that read the row before a change) marks nothing twice, and only what it set counts.
      const applied = this.db.transaction(() => {
        const done: typeof marks = [];
        for (const mark of marks) {
          const [column, action, due] = mark;
          const late = column.endsWith('_breached') ? ', late = 1' : '';
          const changed = this.db
            .prepare(
              `UPDATE incidents SET ${column} = ?, updated_at = ?${late} WHERE id = ? AND ${column} IS NULL`,
            )
            .run(now, now, row.id).changes;
          if (changed === 0) continue;
          done.push(mark);
          this.stmt.event.run(
            row.id,
            now,
            'system',
            action,
            null,
            null,
            null,
            JSON.stringify({ timer: column.split('_')[0], due }),
          );
        }
        return done;
      })();
      if (applied.length === 0) continue;
      const breachedAccept = applied.some(([c]) => c === 'accept_breached');
      if (breachedAccept && this.options.autoEscalate) {
        const fresh = this.stmt.get.get(row.id) as Row;
        try {
          this.apply(fresh, 'escalate', 'system', { note: 'not accepted in time' });
          continue;
        } catch (err) {
          if (!(err instanceof HubError)) throw err; // at the top already: stays breached
        }
      }
      this.changed(row.id);
    }
  }

  /** KPIs per village (and the total) for incidents created in [from, to). */
  kpis(user: AuthUser, from: number, to: number, site?: string): IncidentKpis[] {
    // Every incident of the period in scope (not a page of the newest), read once.
    const full = this.rows(user, { from, to, ...(site ? { site } : {}) });
    const bySite = new Map<string, Row[]>();
    for (const r of full) bySite.set(r.site, [...(bySite.get(r.site) ?? []), r]);
    const now = this.now();
    const compute = (id: string, name: string, list: Row[]): IncidentKpis => {
      const created = list.length;
      const accepted = list.filter((r) => r.first_accepted_at !== null);
      const closed = list.filter((r) => r.closed_at !== null);
      const resolved = list.filter((r) => r.resolved_at !== null);
      // On time: resolved by its resolve-by and never late to accept; out of those resolved or already due.
      const due = list.filter((r) => r.resolved_at !== null || r.resolve_due <= now);
      const onTime = resolved.filter((r) => (r.resolved_at as number) <= r.resolve_due && r.late === 0);
      const mean = (values: number[]) =>
        values.length ? values.reduce((a, b) => a + b, 0) / values.length : null;
      return {
        site: id,
        name,
        created,
        accepted: accepted.length,
        closed: closed.length,
        acceptanceRate: created ? accepted.length / created : null,
        closureRate: created ? closed.length / created : null,
        onTimeRate: due.length ? onTime.length / due.length : null,
        meanTimeToAcceptMs: mean(accepted.map((r) => (r.first_accepted_at as number) - r.created_at)),
        meanTimeToResolveMs: mean(resolved.map((r) => (r.resolved_at as number) - r.created_at)),
      };
    };
    const out = [...bySite.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, list]) => compute(id, this.tree.get(id)?.name ?? id, list));
    out.push(compute('total', '合计', full));
    return out;
  }

  /** The row, if it exists and `user` may see it: 404 when there is none, 403 when it is another's. */
  private visibleRow(user: AuthUser, id: number): Row {
    const row = this.stmt.get.get(id);
    if (!row) throw new HubError('HUB_ERR_NOT_FOUND', `no incident ${id}`);
    if (!this.maySee(user, row))
      throw new HubError('HUB_ERR_FORBIDDEN', `incident ${id} is outside your sites`);
    return row;
  }

  private maySee(user: AuthUser, row: Row): boolean {
    return userMaySee(user, row.site) || userMaySee(user, row.owner);
  }

  private changed(id: number): IncidentView {
    const incident = this.view(this.stmt.get.get(id) as Row, true);
    this.bus.emit('incidentChanged', { incident });
    return incident;
  }

  private view(r: Row, withEvents = false): IncidentView {
    return {
      id: r.id,
      title: r.title,
      category: r.category,
      priority: r.priority,
      status: r.status,
      source: r.source,
      site: r.site,
      owner: r.owner,
      location: r.lat !== null && r.lon !== null ? { lat: r.lat, lon: r.lon } : null,
      description: r.description,
      devices: JSON.parse(r.devices) as string[],
      attachments: JSON.parse(r.attachments) as Attachment[],
      alarm: r.alarm,
      assignee: r.assignee,
      feedback: r.feedback,
      createdAt: r.created_at,
      createdBy: r.created_by,
      updatedAt: r.updated_at,
      accept: {
        due: r.accept_due,
        warnedAt: r.accept_warned,
        breachedAt: r.accept_breached,
        metAt: r.accepted_at,
      },
      resolve: {
        due: r.resolve_due,
        warnedAt: r.resolve_warned,
        breachedAt: r.resolve_breached,
        metAt: r.resolved_at,
      },
      closedAt: r.closed_at,
      ...(withEvents
        ? {
            events: this.stmt.events.all(r.id).map(
              (e): IncidentEvent => ({
                ts: e.ts,
                actor: e.actor,
                action: e.action,
                from: e.from_status,
                to: e.to_status,
                ...(e.note ? { note: e.note } : {}),
                ...(e.data ? { data: JSON.parse(e.data) as Record<string, unknown> } : {}),
              }),
            ),
          }
        : {}),
    };
  }
}

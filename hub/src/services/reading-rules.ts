/**
 * Rules on readings, evaluated in the hub: a threshold above/below with hysteresis held for a
 * duration, a rate of change within a window, or the absence of readings; scoped to a site's
 * subtree, a device kind or one device; each with a severity and optionally a text spoken on the
 * loudspeakers nearest the device (through the linkage service).
 *
 * One evaluator (`RuleCursor.step`) serves both the live path and the preview over stored history,
 * so the preview's "would have fired 3 times" is what the live rule does. A firing raises the
 * rule's alarm for that device as a condition (source `rule`, type `rule.<id>`): it clears when
 * the reading comes back past the hysteresis, and a condition back within the alarm service's
 * flap window reopens the same alarm with a count — one alarm, never one per sample.
 *
 * Cost: rules are indexed by field, and rules for one device by device and field, so a sample
 * costs a map lookup or two per field plus the rules that read that field whose scope holds the
 * device (a precomputed set of sites); a thousand rules for a thousand devices cost each sample one. Cursor state lives
 * in memory per (rule, device): on a hub restart a rule starts afresh, and its open alarms are
 * reconciled by the first reading (a value back in bounds clears them).
 */
import type {
  AlarmSeverity,
  ReadingRule,
  ReadingRuleBody,
  RuleCondition,
  RulePreview,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import type { SqlDatabase } from '../stores/sql.ts';
import type { TimeSeriesStore } from '../stores/timeseries.ts';
import type { AlarmService } from './alarms.ts';
import type { EventBus } from './event-bus.ts';
import type { HubMetrics } from './metrics.ts';
import type { Registry } from './registry.ts';
import type { SiteTree } from './site-tree.ts';

/** Where one (rule, device) stands. */
export class RuleCursor {
  active = false;
  pendingSince: number | null = null;
  lastTs: number;
  lastValue: number | null = null;
  private readonly window: Array<{ ts: number; v: number }> = [];

  constructor(
    private readonly c: RuleCondition,
    startTs: number,
  ) {
    this.lastTs = startTs;
  }

  /** One reading: 'fire', 'clear' or nothing. `value` is null for a reading without the field. */
  step(ts: number, value: number | null): 'fire' | 'clear' | undefined {
    const c = this.c;
    if (c.type === 'absence') {
      this.lastTs = Math.max(this.lastTs, ts);
      if (this.active) {
        this.active = false;
        return 'clear';
      }
      return undefined;
    }
    if (value === null) return undefined;
    this.lastTs = ts;
    this.lastValue = value;
    if (c.type === 'threshold') {
      const over = c.op === 'above' ? value > c.value : value < c.value;
      const back =
        c.op === 'above' ? value <= c.value - (c.hysteresis ?? 0) : value >= c.value + (c.hysteresis ?? 0);
      if (this.active) {
        if (!back) return undefined;
        this.active = false;
        this.pendingSince = null;
        return 'clear';
      }
      if (!over) {
        this.pendingSince = null;
        return undefined;
      }
      this.pendingSince ??= ts;
      return this.due(ts);
    }
    // rate: the change across the window, signed.
    this.window.push({ ts, v: value });
    while (this.window.length > 1 && (this.window[0] as { ts: number }).ts < ts - c.windowMs)
      this.window.shift();
    if (this.window.length > 10_000) this.window.shift(); // bounded, whatever the sample rate
    const first = this.window[0] as { v: number };
    const change = value - first.v;
    const hit = c.change >= 0 ? change >= c.change : change <= c.change;
    if (hit && !this.active) {
      this.active = true;
      return 'fire';
    }
    if (!hit && this.active) {
      this.active = false;
      return 'clear';
    }
    return undefined;
  }

  /** Time passing: a held threshold that reached its duration, or an absence. */
  elapse(now: number): 'fire' | undefined {
    if (this.active) return undefined;
    if (this.c.type === 'absence') {
      if (now - this.lastTs < this.c.forMs) return undefined;
      this.active = true;
      return 'fire';
    }
    if (this.c.type === 'threshold' && this.pendingSince !== null) return this.due(now);
    return undefined;
  }

  private due(now: number): 'fire' | undefined {
    const forMs = this.c.type === 'threshold' ? (this.c.forMs ?? 0) : 0;
    if (this.pendingSince === null || now - this.pendingSince < forMs) return undefined;
    this.active = true;
    this.pendingSince = null;
    return 'fire';
  }
}

interface Compiled {
  rule: ReadingRule;
  sites: Set<string> | null;
  cursors: Map<string, RuleCursor>;
}

export type SpeakAction = (rule: ReadingRule, device: string, site: string) => void;

export interface RuleEngineOptions {
  clock: () => number;
  /** Most devices a preview replays (each is one history query). */
  previewMaxDevices: number;
}

export class RuleEngine {
  private readonly compiled = new Map<number, Compiled>();
  private readonly byField = new Map<string, Compiled[]>();
  private readonly absence: Compiled[] = [];
  private readonly stmt;
  private lastScan = 0;

  constructor(
    db: SqlDatabase,
    private readonly registry: Registry,
    private readonly tree: SiteTree,
    private readonly alarms: AlarmService,
    private readonly store: TimeSeriesStore,
    private readonly bus: EventBus,
    private readonly metrics: HubMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly speak: SpeakAction,
    private readonly options: RuleEngineOptions,
  ) {
    this.stmt = {
      all: db.prepare<[], RuleRow>('SELECT * FROM reading_rules ORDER BY id'),
      get: db.prepare<[number], RuleRow>('SELECT * FROM reading_rules WHERE id = ?'),
      insert: db.prepare<[string, string, number, number], { id: number }>(
        'INSERT INTO reading_rules (body, created_by, created_at, updated_at) VALUES (?, ?, ?, ?) RETURNING id',
      ),
      update: db.prepare<[string, number, number]>(
        'UPDATE reading_rules SET body = ?, updated_at = ? WHERE id = ?',
      ),
      delete: db.prepare<[number]>('DELETE FROM reading_rules WHERE id = ?'),
    };
  }

  start(): void {
    this.reload();
    this.bus.on('readings', 'rules', (r) => this.onReading(r.key, r.site, r.kind, r.ts, r.values));
    this.tree.onChange(() => this.reload());
  }

  list(): ReadingRule[] {
    return this.stmt.all.all().map(toRule);
  }

  get(id: number): ReadingRule | undefined {
    const row = this.stmt.get.get(id);
    return row ? toRule(row) : undefined;
  }

  create(body: ReadingRuleBody, by: string): ReadingRule {
    const now = this.options.clock();
    const { id } = this.stmt.insert.get(JSON.stringify(body), by, now, now) as { id: number };
    const rule = this.get(id) as ReadingRule;
    // A new rule joins the index alone (a full reload per rule made a thousand rules O(n²)).
    if (rule.enabled) this.index(this.compile(rule, undefined));
    return rule;
  }

  update(id: number, body: ReadingRuleBody): ReadingRule | undefined {
    if (this.stmt.update.run(JSON.stringify(body), this.options.clock(), id).changes === 0) return undefined;
    this.clearAlarmsOf(id);
    this.reload();
    return this.get(id);
  }

  remove(id: number): boolean {
    const gone = this.stmt.delete.run(id).changes === 1;
    if (gone) {
      this.clearAlarmsOf(id);
      this.reload();
    }
    return gone;
  }

  /** A changed or deleted rule's open alarms clear: the condition they stood for is gone. */
  private clearAlarmsOf(id: number): void {
    const now = this.options.clock();
    for (const a of this.alarms.openConditions('rule'))
      if (a.rule === id) this.alarms.clearCondition(a.device, a.type, now, 'rule changed');
  }

  /** Recompiles the rules (after a change to them or to the site tree); cursors of unchanged rules stay. */
  reload(): void {
    const old = this.compiled;
    const fresh = new Map<number, Compiled>();
    for (const rule of this.list()) {
      if (!rule.enabled) continue;
      const previous = old.get(rule.id);
      const same = previous && JSON.stringify(previous.rule) === JSON.stringify(rule);
      fresh.set(rule.id, this.compile(rule, same ? previous : undefined));
    }
    old.clear();
    this.byField.clear();
    this.absence.length = 0;
    for (const c of fresh.values()) this.index(c);
    this.lastScan = 0;
  }

  private compile(rule: ReadingRule, previous: Compiled | undefined): Compiled {
    return {
      rule,
      sites: rule.scope.site ? new Set(this.tree.subtree(rule.scope.site)) : null,
      cursors: previous ? previous.cursors : new Map(),
    };
  }

  private index(c: Compiled): void {
    this.compiled.set(c.rule.id, c);
    if (c.rule.condition.type === 'absence') {
      this.absence.push(c);
      this.lastScan = 0;
    }
    const field = c.rule.condition.field;
    if (field) {
      const key = c.rule.scope.device ? `${c.rule.scope.device}|${field}` : field;
      const list = this.byField.get(key) ?? [];
      list.push(c);
      this.byField.set(key, list);
    }
  }

  private inScope(c: Compiled, key: string, site: string, kind: string): boolean {
    const s = c.rule.scope;
    if (s.device && s.device !== key) return false;
    if (s.kind && s.kind !== kind) return false;
    if (c.sites && !c.sites.has(site)) return false;
    return true;
  }

  onReading(key: string, site: string, kind: string, ts: number, values: Record<string, unknown>): void {
    for (const field in values) {
      const general = this.byField.get(field);
      const own = this.byField.get(`${key}|${field}`);
      if (!general && !own) continue;
      const raw = values[field];
      const value = typeof raw === 'number' && Number.isFinite(raw) ? raw : null;
      for (const rules of [general, own]) {
        if (!rules) continue;
        for (const c of rules) {
          if (!this.inScope(c, key, site, kind)) continue;
          this.metrics.ruleEvaluations.inc();
          const cursor = this.cursor(c, key, ts);
          this.act(c, key, site, cursor.step(ts, value), value);
        }
      }
    }
    // Absence rules without a field: any reading counts.
    for (const c of this.absence) {
      if (c.rule.condition.field || !this.inScope(c, key, site, kind)) continue;
      this.act(c, key, site, this.cursor(c, key, ts).step(ts, null), null);
    }
  }

  private cursor(c: Compiled, key: string, startTs: number): RuleCursor {
    let cursor = c.cursors.get(key);
    if (!cursor) {
      cursor = new RuleCursor(c.rule.condition, startTs);
      c.cursors.set(key, cursor);
    }
    return cursor;
  }

  /** The scheduler's task: durations reached and absences. */
  tick(now: number): void {
    // Absence rules watch every device in scope, including one that never reported since the hub
    // started: new devices are picked up every 30 s, their silence counted from then.
    if (this.absence.length && now - this.lastScan >= 30_000) {
      this.lastScan = now;
      for (const d of this.registry.listDevices())
        for (const c of this.absence)
          if (this.inScope(c, d.key, d.site, d.kind) && !c.cursors.has(d.key))
            c.cursors.set(d.key, new RuleCursor(c.rule.condition, Math.min(now, d.valuesTs ?? now)));
    }
    for (const c of this.compiled.values()) {
      const t = c.rule.condition.type;
      if (t === 'rate' || (t === 'threshold' && !c.rule.condition.forMs)) continue;
      for (const [key, cursor] of c.cursors) {
        if (cursor.elapse(now) !== 'fire') continue;
        const site = this.registry.deviceHealth(key)?.site;
        if (site) this.act(c, key, site, 'fire', cursor.lastValue, now);
      }
    }
  }

  private act(
    c: Compiled,
    key: string,
    site: string,
    what: 'fire' | 'clear' | undefined,
    value: number | null,
    now = this.options.clock(),
  ): void {
    if (!what) return;
    const rule = c.rule;
    const type = `rule.${rule.id}`;
    if (what === 'clear') {
      this.alarms.clearCondition(key, type, now);
      return;
    }
    this.metrics.ruleFires.inc();
    const alarm = this.alarms.raiseCondition(
      {
        source: 'rule',
        device: key,
        site,
        type,
        severity: rule.severity as AlarmSeverity,
        reason: rule.name,
        rule: rule.id,
        data: {
          condition: rule.condition.type,
          ...('field' in rule.condition && rule.condition.field ? { field: rule.condition.field } : {}),
          ...(value !== null ? { value } : {}),
        },
      },
      now,
    );
    this.log.info({ rule: rule.id, device: key, value }, 'reading rule fired');
    // Speak on a new occurrence only (a new or reopened alarm), not on a reason update.
    if (rule.action?.speak && alarm && alarm.lastTs === now) {
      try {
        this.speak(rule, key, site);
      } catch (err) {
        this.log.warn({ rule: rule.id, err: (err as Error).message }, 'rule action failed');
      }
    }
  }

  /** Replays the rule over stored history: how often it would have fired. */
  async preview(body: ReadingRuleBody, hours: number): Promise<RulePreview> {
    const to = this.options.clock();
    const from = to - hours * 3_600_000;
    const sites = body.scope.site ? new Set(this.tree.subtree(body.scope.site)) : null;
    const devices = this.registry
      .listDevices()
      .filter(
        (d) =>
          (!body.scope.device || d.key === body.scope.device) &&
          (!body.scope.kind || d.kind === body.scope.kind) &&
          (!sites || sites.has(d.site)),
      )
      .slice(0, this.options.previewMaxDevices);
    const alarms: RulePreview['alarms'] = [];
    const c = body.condition;
    // 8,640 buckets per device whatever the span (10 s over a day): the extreme of each bucket is
    // what a threshold would have seen; durations and absences are judged to the bucket.
    const bucketMs = Math.max(250, Math.round((to - from) / 8640));
    for (const d of devices) {
      const field =
        c.field ?? Object.keys(d.values).find((f) => typeof d.values[f] === 'number') ?? undefined;
      if (!field) continue;
      const points = await this.store.history({ device: d.key, field, from, to, bucketMs });
      const cursor = new RuleCursor(c, from);
      let open: RulePreview['alarms'][number] | undefined;
      const record = (what: 'fire' | 'clear' | undefined, ts: number, value: number | null) => {
        if (what === 'fire') {
          open = { device: d.key, ts, clearedAt: null, value };
          alarms.push(open);
        } else if (what === 'clear' && open) {
          open.clearedAt = ts;
          open = undefined;
        }
      };
      for (const p of points) {
        if (c.type === 'absence') record(cursor.elapse(p.ts), p.ts, null);
        const v = c.type === 'threshold' && c.op === 'below' ? p.min : c.type === 'threshold' ? p.max : p.avg;
        record(cursor.step(p.ts, c.type === 'absence' ? null : v), p.ts, v);
        if (c.type === 'threshold') record(cursor.elapse(p.ts + bucketMs), p.ts + bucketMs, v);
      }
      record(cursor.elapse(to), to, null);
    }
    return { from, to, devices: devices.length, fires: alarms.length, alarms: alarms.slice(0, 500) };
  }
}

interface RuleRow {
  id: number;
  body: string;
  created_by: string;
  created_at: number;
  updated_at: number;
}

function toRule(r: RuleRow): ReadingRule {
  return {
    ...(JSON.parse(r.body) as ReadingRuleBody),
    id: r.id,
    createdBy: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * Notifications beyond the screen: an alarm that is raised, re-notified or escalated goes to every
 * matching subscription's channel — a webhook (JSON, HMAC-SHA256 signed), e-mail (SMTP through
 * nodemailer) or SMS through an HTTP SMS gateway (URL and body templates).
 *
 * - **Matching**: a subscription names a channel, a minimum severity, optionally a site subtree, and
 *   for whom — a user (only alarms in that user's scope) or a role.
 * - **Dedup**: one delivery per (alarm, subscription, reason, step) — the table's unique key — so an
 *   alarm announced twice (two hubs, a restart) is sent once.
 * - **Rate limit**: at most `ratePerMinute` deliveries per subscription per minute; the rest are
 *   logged as `rate_limited` (the screen still has them).
 * - **Quiet hours**: a warning is `held` until they end (then sent if still unacknowledged, else
 *   `skipped`); alarm and critical never wait.
 * - **Retries**: a failed attempt is retried with exponential backoff (`retryBaseMs` doubling to
 *   `retryMaxMs`) up to `maxAttempts`, then `failed`. Retries and held deliveries are picked up by
 *   the alarm scheduler's tick from the delivery log, so they survive a restart.
 * - **Secrets** (the webhook's HMAC key, the SMTP password, the SMS gateway's token) are read from
 *   files named in the config at start; never stored in the state DB, never logged (errors carry a
 *   status or an SMTP code, not a request).
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  type AlarmView,
  type DeliveryStatus,
  type DeliveryView,
  HEALTH_ALARM_TYPES,
  type NotifyReason,
  type Subscription,
  type SubscriptionBody,
  severityRank,
  type WebhookBody,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import nodemailer from 'nodemailer';
import type { SqlDatabase } from '../stores/sql.ts';
import type { StateDb } from '../stores/state-db.ts';
import type { AlarmService } from './alarms.ts';
import type { EventBus } from './event-bus.ts';
import type { HubMetrics } from './metrics.ts';
import type { Registry } from './registry.ts';
import type { SiteTree } from './site-tree.ts';

export type ChannelConfig =
  | { id: string; type: 'webhook'; url: string; secretFile: string; timeoutMs: number }
  | {
      id: string;
      type: 'email';
      host: string;
      port: number;
      secure: boolean;
      username?: string;
      passwordFile?: string;
      from: string;
      timeoutMs: number;
    }
  | {
      id: string;
      type: 'sms';
      url: string;
      method: 'POST' | 'GET';
      contentType: string;
      bodyTemplate: string;
      tokenFile?: string;
      timeoutMs: number;
    };

export interface NotificationOptions {
  channels: ChannelConfig[];
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  ratePerMinute: number;
  /** The time zone quiet hours are read in (minutes east of UTC; 480 for China). */
  timeZoneOffsetMinutes: number;
  clock: () => number;
}

interface Channel {
  config: ChannelConfig;
  secret: string | undefined;
  transport?: nodemailer.Transporter;
}

interface DeliveryRow {
  id: number;
  alarm: number;
  subscription: number;
  channel: string;
  reason: NotifyReason;
  step: number;
  status: DeliveryStatus;
  attempts: number;
  created_at: number;
  updated_at: number;
  next_at: number | null;
  error: string | null;
}

const SEVERITY_ZH: Record<string, string> = { warning: '预警', alarm: '告警', critical: '紧急' };
const REASON_ZH: Record<NotifyReason, string> = {
  raised: '',
  renotified: '【未确认，再次提醒】',
  escalated: '【已升级】',
};

export class NotificationService {
  private readonly channels = new Map<string, Channel>();
  private readonly stmt;
  private readonly inFlight = new Set<number>();
  private readonly sentTimes = new Map<number, number[]>();
  private pending: Promise<unknown>[] = [];

  constructor(
    private readonly db: SqlDatabase,
    private readonly state: StateDb,
    private readonly alarms: AlarmService,
    private readonly registry: Registry,
    private readonly tree: SiteTree,
    private readonly bus: EventBus,
    private readonly metrics: HubMetrics,
    private readonly log: FastifyBaseLogger,
    private readonly options: NotificationOptions,
  ) {
    for (const config of options.channels) {
      const file =
        config.type === 'webhook'
          ? config.secretFile
          : config.type === 'email'
            ? config.passwordFile
            : config.tokenFile;
      // Read once at start: a missing file is a configuration error the operator must see now.
      const secret = file ? readFileSync(file, 'utf8').trim() : undefined;
      const channel: Channel = { config, secret };
      if (config.type === 'email')
        channel.transport = nodemailer.createTransport({
          host: config.host,
          port: config.port,
          secure: config.secure,
          connectionTimeout: config.timeoutMs,
          greetingTimeout: config.timeoutMs,
          socketTimeout: config.timeoutMs,
          ...(config.username ? { auth: { user: config.username, pass: secret ?? '' } } : {}),
          // Loopback or an internal relay may have no certificate worth checking only when not secure.
          tls: { rejectUnauthorized: config.secure },
        });
      this.channels.set(config.id, channel);
    }
    this.stmt = {
      subscriptions: db.prepare<[], { id: number; body: string; created_by: string; created_at: number }>(
        'SELECT * FROM notify_subscriptions ORDER BY id',
      ),
      subscription: db.prepare<
        [number],
        { id: number; body: string; created_by: string; created_at: number }
      >('SELECT * FROM notify_subscriptions WHERE id = ?'),
      insertSub: db.prepare<[string, string, number], { id: number }>(
        'INSERT INTO notify_subscriptions (body, created_by, created_at) VALUES (?, ?, ?) RETURNING id',
      ),
      updateSub: db.prepare<[string, number]>('UPDATE notify_subscriptions SET body = ? WHERE id = ?'),
      deleteSub: db.prepare<[number]>('DELETE FROM notify_subscriptions WHERE id = ?'),
      insert: db.prepare<
        [number, number, string, string, number, string, number, number, number | null],
        { id: number }
      >(
        `INSERT INTO notify_deliveries (alarm, subscription, channel, reason, step, status, attempts, created_at, updated_at, next_at)
         VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
      ),
      get: db.prepare<[number], DeliveryRow>('SELECT * FROM notify_deliveries WHERE id = ?'),
      due: db.prepare<[number], DeliveryRow>(
        "SELECT * FROM notify_deliveries WHERE status IN ('retrying', 'held', 'pending') AND next_at <= ? ORDER BY id LIMIT 200",
      ),
      set: db.prepare<[string, number, number, number | null, string | null, number]>(
        'UPDATE notify_deliveries SET status = ?, attempts = ?, updated_at = ?, next_at = ?, error = ? WHERE id = ?',
      ),
    };
  }

  start(): void {
    this.bus.on('alarmNotify', 'notifications', ({ alarm, reason, step }) =>
      this.enqueue(alarm, reason, step),
    );
  }

  channelList(): Array<{ id: string; type: ChannelConfig['type'] }> {
    return [...this.channels.values()].map((c) => ({ id: c.config.id, type: c.config.type }));
  }

  hasChannel(id: string): boolean {
    return this.channels.has(id);
  }

  // subscriptions ---------------------------------------------------------------------------

  subscriptions(): Subscription[] {
    return this.stmt.subscriptions.all().map(toSubscription);
  }

  subscription(id: number): Subscription | undefined {
    const r = this.stmt.subscription.get(id);
    return r ? toSubscription(r) : undefined;
  }

  createSubscription(body: SubscriptionBody, by: string): Subscription {
    const { id } = this.stmt.insertSub.get(JSON.stringify(body), by, this.options.clock()) as { id: number };
    return this.subscription(id) as Subscription;
  }

  updateSubscription(id: number, body: SubscriptionBody): Subscription | undefined {
    if (this.stmt.updateSub.run(JSON.stringify(body), id).changes === 0) return undefined;
    return this.subscription(id);
  }

  deleteSubscription(id: number): boolean {
    return this.stmt.deleteSub.run(id).changes === 1;
  }

  // deliveries -------------------------------------------------------------------------------

  deliveries(query: { alarm?: number; status?: DeliveryStatus; limit: number }): DeliveryView[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (query.alarm !== undefined) {
      where.push('alarm = ?');
      args.push(query.alarm);
    }
    if (query.status) {
      where.push('status = ?');
      args.push(query.status);
    }
    const sql = `SELECT * FROM notify_deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return this.db
      .prepare<unknown[], DeliveryRow>(sql)
      .all(...args, query.limit)
      .map(toDelivery);
  }

  /** Resolves when every send started so far has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.pending.length) {
      const now = this.pending;
      this.pending = [];
      await Promise.allSettled(now);
    }
  }

  private matches(sub: Subscription, alarm: AlarmView): boolean {
    if (!sub.enabled) return false;
    if (severityRank(alarm.severity) < severityRank(sub.minSeverity)) return false;
    const places = [alarm.site, alarm.owner];
    if (sub.site) {
      const subtree = new Set(this.tree.subtree(sub.site));
      if (!places.some((p) => subtree.has(p))) return false;
    }
    if (sub.user) {
      const user = this.state.getUser(sub.user);
      if (!user || user.disabled) return false;
      if (user.sites.length > 0) {
        const scope = new Set(this.tree.expand(user.sites));
        if (!places.some((p) => scope.has(p))) return false;
      } else if (user.role === 'village_operator') return false;
    }
    return true;
  }

  /** An alarm to announce: one delivery per matching subscription (deduplicated by the log). */
  enqueue(alarm: AlarmView, reason: NotifyReason, step: number): void {
    const now = this.options.clock();
    for (const sub of this.subscriptions()) {
      if (!this.matches(sub, alarm) || !this.channels.has(sub.channel)) continue;
      let status: DeliveryStatus = 'pending';
      let nextAt: number | null = now;
      const quietUntil = sub.quietHours ? this.quietUntil(sub.quietHours, now) : null;
      if (quietUntil !== null && alarm.severity === 'warning') {
        status = 'held';
        nextAt = quietUntil;
      } else if (!this.takeRate(sub.id, now)) {
        status = 'rate_limited';
        nextAt = null;
      }
      const row = this.stmt.insert.get(alarm.id, sub.id, sub.channel, reason, step, status, now, now, nextAt);
      if (!row) continue; // already delivered for this step: dedup
      this.metrics.notifications.inc({ channel: this.typeOf(sub.channel), status });
      if (status === 'pending') this.attempt(row.id);
      else this.log.info({ delivery: row.id, alarm: alarm.id, status }, 'notification not sent now');
    }
  }

  /** The scheduler's task: retries and held deliveries that are due. */
  tick(now: number): void {
    for (const row of this.stmt.due.all(now)) {
      if (this.inFlight.has(row.id)) continue;
      if (row.status === 'held') {
        const alarm = this.alarms.get(row.alarm);
        if (!alarm || alarm.ackedAt !== null) {
          this.stmt.set.run(
            'skipped',
            row.attempts,
            now,
            null,
            'acknowledged before quiet hours ended',
            row.id,
          );
          continue;
        }
      }
      this.attempt(row.id);
    }
  }

  private typeOf(channel: string): string {
    return this.channels.get(channel)?.config.type ?? 'unknown';
  }

  private takeRate(sub: number, now: number): boolean {
    const times = (this.sentTimes.get(sub) ?? []).filter((t) => now - t < 60_000);
    if (times.length >= this.options.ratePerMinute) {
      this.sentTimes.set(sub, times);
      return false;
    }
    times.push(now);
    this.sentTimes.set(sub, times);
    return true;
  }

  /** When quiet hours that include `now` end, or null when `now` is outside them. */
  quietUntil(q: { from: string; to: string }, now: number): number | null {
    const offset = this.options.timeZoneOffsetMinutes * 60_000;
    const local = now + offset;
    const dayStart = local - (((local % 86_400_000) + 86_400_000) % 86_400_000);
    const minutes = (t: string) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5));
    const from = minutes(q.from);
    const to = minutes(q.to);
    const m = Math.floor((local - dayStart) / 60_000);
    const inside = from <= to ? m >= from && m < to : m >= from || m < to;
    if (!inside) return null;
    const endDay = from > to && m >= from ? dayStart + 86_400_000 : dayStart;
    return endDay + to * 60_000 - offset;
  }

  private attempt(id: number): void {
    if (this.inFlight.has(id)) return;
    const row = this.stmt.get.get(id);
    if (!row) return;
    const sub = this.subscription(row.subscription);
    const alarm = this.alarms.get(row.alarm);
    const channel = this.channels.get(row.channel);
    if (!sub || !alarm || !channel) {
      this.stmt.set.run(
        'skipped',
        row.attempts,
        this.options.clock(),
        null,
        'subscription, alarm or channel gone',
        id,
      );
      return;
    }
    this.inFlight.add(id);
    const send = this.send(channel, sub, alarm, row)
      .then(() => {
        this.stmt.set.run('sent', row.attempts + 1, this.options.clock(), null, null, id);
        this.metrics.notifications.inc({ channel: channel.config.type, status: 'sent' });
        this.alarms.note(alarm.id, 'notified', null, {
          channel: channel.config.id,
          subscription: sub.id,
          reason: row.reason,
        });
      })
      .catch((err: Error) => {
        const attempts = row.attempts + 1;
        const error = (err.message || 'failed').slice(0, 200);
        if (attempts >= this.options.maxAttempts) {
          this.stmt.set.run('failed', attempts, this.options.clock(), null, error, id);
          this.metrics.notifications.inc({ channel: channel.config.type, status: 'failed' });
          this.log.warn({ delivery: id, channel: channel.config.id, attempts, error }, 'notification failed');
          return;
        }
        const delay = Math.min(this.options.retryMaxMs, this.options.retryBaseMs * 2 ** (attempts - 1));
        this.stmt.set.run(
          'retrying',
          attempts,
          this.options.clock(),
          this.options.clock() + delay,
          error,
          id,
        );
        this.metrics.notifications.inc({ channel: channel.config.type, status: 'retrying' });
      })
      .finally(() => this.inFlight.delete(id));
    this.pending.push(send);
  }

  private text(
    alarm: AlarmView,
    reason: NotifyReason,
  ): { text: string; siteName: string; deviceName: string } {
    const siteName = this.tree.get(alarm.site)?.name ?? alarm.site;
    const deviceName = this.registry.getDevice(alarm.device)?.name ?? alarm.device;
    const what =
      HEALTH_ALARM_TYPES[alarm.type as keyof typeof HEALTH_ALARM_TYPES]?.zh ??
      (alarm.source === 'rule' ? (alarm.reason ?? alarm.type) : alarm.type);
    const sev = SEVERITY_ZH[alarm.severity] ?? alarm.severity;
    return { text: `${REASON_ZH[reason]}[${sev}] ${siteName} ${deviceName}：${what}`, siteName, deviceName };
  }

  private async send(channel: Channel, sub: Subscription, alarm: AlarmView, row: DeliveryRow): Promise<void> {
    const { text, siteName, deviceName } = this.text(alarm, row.reason);
    const c = channel.config;
    if (c.type === 'webhook') {
      const body: WebhookBody = { delivery: row.id, reason: row.reason, alarm, siteName, deviceName, text };
      const json = JSON.stringify(body);
      const ts = String(this.options.clock());
      const signature = createHmac('sha256', channel.secret ?? '')
        .update(`${ts}.${json}`)
        .digest('hex');
      const res = await fetch(c.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-qly-timestamp': ts,
          'x-qly-signature': `sha256=${signature}`,
          'x-qly-delivery': String(row.id),
        },
        body: json,
        signal: AbortSignal.timeout(c.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      return;
    }
    if (sub.to.length === 0) throw new Error('the subscription names no recipient');
    if (c.type === 'email') {
      try {
        await (channel.transport as nodemailer.Transporter).sendMail({
          from: c.from,
          to: sub.to.join(', '),
          subject: text,
          text: `${text}\n${alarm.reason ?? ''}\n告警编号 ${alarm.id}`,
        });
      } catch (err) {
        // nodemailer's message can quote the server's reply; keep the code only, never credentials.
        const e = err as { responseCode?: number; code?: string };
        throw new Error(`SMTP ${e.responseCode ?? e.code ?? 'error'}`);
      }
      return;
    }
    for (const to of sub.to) {
      const vars: Record<string, string> = {
        to,
        text,
        id: String(alarm.id),
        severity: alarm.severity,
        site: siteName,
        device: deviceName,
        type: alarm.type,
      };
      const json = c.contentType.includes('json');
      const fill = (template: string, encode: (s: string) => string) =>
        template.replace(/\{\{(\w+)\}\}/g, (_m, k: string) => encode(vars[k] ?? ''));
      const body = fill(c.bodyTemplate, (s) =>
        json ? JSON.stringify(s).slice(1, -1) : encodeURIComponent(s),
      );
      const url = fill(c.url, encodeURIComponent);
      const res = await fetch(url, {
        method: c.method,
        headers: {
          'content-type': c.contentType,
          ...(channel.secret ? { authorization: `Bearer ${channel.secret}` } : {}),
        },
        ...(c.method === 'POST' ? { body } : {}),
        signal: AbortSignal.timeout(c.timeoutMs),
      });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
    }
  }

  async close(): Promise<void> {
    await this.settled();
    for (const c of this.channels.values()) c.transport?.close();
  }
}

function toSubscription(r: {
  id: number;
  body: string;
  created_by: string;
  created_at: number;
}): Subscription {
  return {
    ...(JSON.parse(r.body) as SubscriptionBody),
    id: r.id,
    createdBy: r.created_by,
    createdAt: r.created_at,
  };
}

function toDelivery(r: DeliveryRow): DeliveryView {
  return {
    id: r.id,
    alarm: r.alarm,
    subscription: r.subscription,
    channel: r.channel,
    reason: r.reason,
    status: r.status,
    attempts: r.attempts,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    nextAt: r.next_at,
    error: r.error,
  };
}

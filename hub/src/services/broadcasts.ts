/**
 * Broadcasts to village loudspeakers. A broadcast names its targets (speakers, zones, villages,
 * everything in the sender's scope), its content (text to speak, an uploaded clip by hash, live
 * talk), a priority and repeats, and optionally a time (once, or daily). Sending it is one
 * `speaker.play` per speaker through the command service (roles, scope, gateway online, the device
 * reachable — each refusal is that speaker's failure, the others still play); the speakers report
 * playback as device events, which update the broadcast's per-speaker delivery: `finished` only
 * when the speaker confirmed it, `unconfirmed` when it was sent to a speaker that cannot confirm. Every broadcast is
 * kept (who, what, where, when, outcome) and can be sent again; creating and cancelling are audited.
 *
 * A village operator may target only their own villages: any speaker, zone or site outside them
 * refuses the whole broadcast (403), rather than quietly sending a part of it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  type BroadcastRequest,
  type BroadcastView,
  type DeviceView,
  FINAL_PLAYBACK_STATES,
  may,
  type PlaybackState,
  type SpeakerDelivery,
  TALK_WS_PATH,
  userMaySee,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import { HubError } from '../errors.ts';
import type { SqlDatabase } from '../stores/sql.ts';
import { LINKAGE_ACTOR } from './actors.ts';
import type { AuditLog } from './audit-log.ts';
import type { ClipStore } from './clips.ts';
import type { CommandService } from './commands.ts';
import type { EventBus } from './event-bus.ts';
import type { Registry } from './registry.ts';
import type { AuthUser } from './sessions.ts';

const TALK_TOKEN_TTL_MS = 60_000;
const MAX_KEPT = 20_000;

interface Row {
  id: string;
  created_by: string;
  created_at: number;
  body: string;
  state: BroadcastView['state'];
  next_at: number | null;
  sites: string;
  speakers: string;
}

export interface TalkSession {
  broadcast: string;
  username: string;
  /** The login session that created it: only that session may speak into it. */
  sid: string;
  /** The speakers it plays on, and their villages (checked against the speaker's scope again). */
  speakers: string[];
  sites: string[];
  /** Gateways whose speakers play this talk, and their connections once they dial in. */
  gateways: Set<string>;
  expiresAt: number;
  /** Set when the officer's microphone connects; a session never connected is dropped when its token expires. */
  connected?: boolean;
}

export class BroadcastService {
  private readonly stmt;
  private readonly live = new Map<string, BroadcastView>();
  private timer: NodeJS.Timeout | undefined;
  /** Live-talk sessions by id, and one-time browser tokens → session. */
  readonly talkSessions = new Map<string, TalkSession>();
  private readonly talkTokens = new Map<
    string,
    { session: string; username: string; sid: string; expiresAt: number }
  >();

  constructor(
    private readonly db: SqlDatabase,
    private readonly clips: Pick<ClipStore, 'visibleTo'>,
    private readonly registry: Registry,
    private readonly commands: CommandService,
    private readonly bus: EventBus,
    private readonly audit: AuditLog,
    private readonly log: FastifyBaseLogger,
    /** The user a scheduled broadcast is sent as, when its creator is gone. */
    private readonly lookupUser: (username: string) => AuthUser | undefined,
  ) {
    this.stmt = {
      insert: db.prepare<[string, string, number, string, string, number | null, string, string]>(
        'INSERT INTO broadcasts (id, created_by, created_at, body, state, next_at, sites, speakers) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      update: db.prepare<[string, number | null, string, string]>(
        'UPDATE broadcasts SET state = ?, next_at = ?, speakers = ? WHERE id = ?',
      ),
      get: db.prepare<[string], Row>('SELECT * FROM broadcasts WHERE id = ?'),
      recent: db.prepare<[number], Row>('SELECT * FROM broadcasts ORDER BY created_at DESC LIMIT ?'),
      due: db.prepare<[number], Row>(
        "SELECT * FROM broadcasts WHERE state = 'scheduled' AND next_at <= ? ORDER BY next_at LIMIT 20",
      ),
      prune: db.prepare<[number]>(
        'DELETE FROM broadcasts WHERE created_at < (SELECT created_at FROM broadcasts ORDER BY created_at DESC LIMIT 1 OFFSET ?)',
      ),
    };
  }

  /** `mayRun`: whether this hub does the cluster's scheduled work (schedules, repeats) now. */
  start(mayRun: () => boolean = () => true): void {
    this.bus.on('deviceEvent', 'broadcasts', (e) => this.onEvent(e.key, e.type, e.ts, e.data));
    this.timer = setInterval(() => {
      if (mayRun()) this.tick();
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** The speakers a request reaches within `user`'s scope; anything named outside it is refused. */
  resolve(user: AuthUser, targets: BroadcastRequest['targets']): DeviceView[] {
    const speakers = this.registry
      .listDevices()
      .filter((d) => d.kind === 'speaker' && d.capabilities.includes('cmd.speaker.play'));
    const outside = (site: string) => !userMaySee(user, site);
    const chosen = new Map<string, DeviceView>();
    for (const key of targets.speakers ?? []) {
      const d = this.registry.getDevice(key);
      if (!d || d.kind !== 'speaker') throw new HubError('HUB_ERR_NOT_FOUND', `no speaker ${key}`);
      if (outside(d.site))
        throw new HubError('HUB_ERR_FORBIDDEN', `${key} is outside your sites`, {
          field: 'targets',
          reason: 'out_of_scope',
        });
      chosen.set(d.key, d);
    }
    for (const site of targets.sites ?? []) {
      if (outside(site))
        throw new HubError('HUB_ERR_FORBIDDEN', `${site} is outside your sites`, {
          field: 'targets',
          reason: 'out_of_scope',
        });
      for (const d of speakers) if (d.site === site) chosen.set(d.key, d);
    }
    for (const zone of targets.zones ?? [])
      for (const d of speakers) if (d.zones?.includes(zone) && !outside(d.site)) chosen.set(d.key, d);
    if (targets.all) for (const d of speakers) if (!outside(d.site)) chosen.set(d.key, d);
    return [...chosen.values()];
  }

  create(user: AuthUser, req: BroadcastRequest, now = Date.now()): BroadcastView {
    if (!may(user.role, 'broadcast'))
      throw new HubError('HUB_ERR_FORBIDDEN', `the role ${user.role} may not broadcast`);
    const speakers = this.resolve(user, req.targets);
    if (speakers.length === 0)
      throw new HubError('HUB_ERR_VALIDATION', 'no loudspeaker among the targets', {
        field: 'targets',
        reason: 'no_target',
      });
    if ('clip' in req.content && !this.clips.visibleTo(user, req.content.clip.hash))
      throw new HubError('HUB_ERR_NOT_FOUND', 'no such clip: upload it first');
    if ('live' in req.content && req.schedule)
      throw new HubError('HUB_ERR_VALIDATION', 'live talk cannot be scheduled', {
        field: 'schedule',
        reason: 'live_talk',
      });
    const id = randomUUID();
    const view: BroadcastView = {
      id,
      ...(req.title ? { title: req.title } : {}),
      createdBy: user.username,
      createdAt: now,
      priority: req.priority,
      content:
        'tts' in req.content
          ? { tts: { text: req.content.tts.text, lang: req.content.tts.lang ?? 'zh' } }
          : req.content,
      targets: req.targets,
      repeat: req.repeat ?? 1,
      ...(req.schedule ? { schedule: req.schedule } : {}),
      state: req.schedule && req.schedule.at > now ? 'scheduled' : 'sending',
      sites: [...new Set(speakers.map((d) => d.site))].sort(),
      speakers: {},
    };
    this.audit.append({
      actor: user.username,
      action: 'broadcast.create',
      target: id,
      outcome: 'ok',
      detail: {
        priority: view.priority,
        content:
          'tts' in req.content
            ? { tts: req.content.tts.text.slice(0, 200) }
            : 'clip' in req.content
              ? req.content.clip
              : 'live',
        speakers: speakers.length,
        sites: view.sites,
        ...(req.schedule ? { schedule: req.schedule } : {}),
      },
    });
    if ('live' in req.content) {
      // Talk sessions whose microphone never came are not kept.
      for (const [id, t] of this.talkSessions)
        if (!t.connected && t.expiresAt < now) this.talkSessions.delete(id);
      const session = randomBytes(16).toString('hex');
      const token = randomBytes(24).toString('base64url');
      const expiresAt = now + TALK_TOKEN_TTL_MS;
      this.talkSessions.set(session, {
        broadcast: id,
        username: user.username,
        sid: user.sid,
        speakers: speakers.map((d) => d.key),
        sites: view.sites,
        gateways: new Set(speakers.map((d) => d.gateway)),
        expiresAt,
      });
      this.talkTokens.set(token, { session, username: user.username, sid: user.sid, expiresAt });
      view.content = { live: { session } };
      view.talk = { token, path: TALK_WS_PATH, expiresAt };
    }
    this.stmt.insert.run(
      id,
      user.username,
      now,
      JSON.stringify(this.body(view)),
      view.state,
      view.state === 'scheduled' ? (req.schedule?.at as number) : null,
      JSON.stringify(view.sites),
      '{}',
    );
    if (view.state === 'sending') this.dispatch(view, user, speakers);
    this.stmt.prune.run(MAX_KEPT);
    return view;
  }

  /** Sends it to each speaker; each answer or refusal is that speaker's delivery state. */
  private dispatch(view: BroadcastView, user: AuthUser, speakers: DeviceView[]): void {
    this.live.set(view.id, view);
    view.state = 'sending';
    const source = view.content;
    for (const d of speakers) {
      this.setDelivery(view, d.key, { state: 'sending', at: Date.now() });
      let id: string;
      try {
        id = this.commands.submit({
          user,
          gateway: d.gateway,
          device: d.device,
          action: 'speaker.play',
          params: { broadcast: view.id, priority: view.priority, source, repeat: view.repeat },
          internal: true,
        }).id;
      } catch (err) {
        this.setDelivery(view, d.key, {
          state: 'failed',
          at: Date.now(),
          reason: (err as Error).message,
          ...(err instanceof HubError ? { code: err.code } : {}),
        });
        continue;
      }
      void this.commands.wait(id, 20_000).then((result) => {
        const current = view.speakers[d.key]?.state;
        if (result.status !== 'ok')
          this.setDelivery(view, d.key, {
            state: 'failed',
            at: Date.now(),
            reason: result.error?.message ?? result.status,
            ...(result.status === 'timeout' ? { code: 'HUB_ERR_TIMEOUT' } : {}),
          });
        else if (current === 'sending') {
          const state =
            (result.data as { state?: string } | undefined)?.state === 'queued' ? 'queued' : 'started';
          this.setDelivery(view, d.key, { state, at: Date.now() });
        }
      });
    }
    this.save(view);
  }

  private onEvent(key: string, type: string, ts: number, data: Record<string, unknown> | undefined): void {
    if (!type.startsWith('playback.') || typeof data?.broadcast !== 'string') return;
    const view = this.live.get(data.broadcast) ?? this.load(data.broadcast);
    if (!view) return;
    const state = type.slice('playback.'.length);
    if (state === 'progress') return;
    if (state !== 'started' && !(FINAL_PLAYBACK_STATES as readonly string[]).includes(state)) return;
    const delivery: SpeakerDelivery = {
      state: state as SpeakerDelivery['state'],
      at: ts,
      ...(typeof data.durationMs === 'number' ? { durationMs: Math.round(data.durationMs) } : {}),
      ...(typeof data.reason === 'string' ? { reason: data.reason.slice(0, 200) } : {}),
      ...(state === 'interrupted' && typeof data.by === 'string'
        ? { reason: `interrupted by ${data.by}`, by: data.by.slice(0, 64) }
        : {}),
    };
    this.setDelivery(view, key, delivery);
    this.save(view);
  }

  private setDelivery(view: BroadcastView, key: string, delivery: SpeakerDelivery): void {
    const before = view.speakers[key];
    // A late "started" never overwrites a final state.
    if (
      before &&
      FINAL_PLAYBACK_STATES.includes(before.state as PlaybackState) &&
      delivery.state === 'started'
    )
      return;
    view.speakers[key] = delivery;
    const states = Object.values(view.speakers).map((s) => s.state);
    if (view.state === 'sending' && states.every((s) => FINAL_PLAYBACK_STATES.includes(s as PlaybackState)))
      view.state = view.schedule?.daily ? 'scheduled' : 'done';
    this.bus.emit('broadcastChanged', { broadcast: this.publicView(view) });
  }

  private save(view: BroadcastView): void {
    this.stmt.update.run(view.state, this.nextAt(view), JSON.stringify(view.speakers), view.id);
    if (view.state !== 'sending') this.live.delete(view.id);
  }

  private nextAt(view: BroadcastView): number | null {
    if (view.state !== 'scheduled' || !view.schedule) return null;
    let at = view.schedule.at;
    if (view.schedule.daily) while (at <= Date.now()) at += 86_400_000;
    return at;
  }

  /** Sends what is due. */
  tick(now = Date.now()): void {
    for (const row of this.stmt.due.all(now)) {
      const view = this.fromRow(row);
      const user = this.lookupUser(row.created_by);
      if (!user) {
        this.stmt.update.run('cancelled', null, row.speakers, row.id);
        this.log.warn({ broadcast: row.id }, 'scheduled broadcast cancelled: its creator no longer exists');
        continue;
      }
      let speakers: DeviceView[];
      try {
        speakers = this.resolve(user, view.targets);
      } catch (err) {
        this.stmt.update.run('cancelled', null, row.speakers, row.id);
        this.log.warn({ broadcast: row.id, err: (err as Error).message }, 'scheduled broadcast cancelled');
        continue;
      }
      if (view.schedule?.daily)
        view.schedule = { ...view.schedule, at: (row.next_at as number) + 86_400_000 };
      view.speakers = {};
      this.dispatch(view, user, speakers);
    }
  }

  /**
   * Who may stop a broadcast (all of it or one speaker): its sender and the command room; an
   * automatic (linkage) warning by whoever sees it — the village's own operator may silence a false
   * alarm's evacuation order.
   */
  private assertMayStop(user: AuthUser, view: BroadcastView): void {
    if (
      !may(user.role, 'cancelAnyBroadcast') &&
      view.createdBy !== user.username &&
      view.createdBy !== LINKAGE_ACTOR
    )
      throw new HubError('HUB_ERR_FORBIDDEN', 'only its sender or the command room may stop a broadcast');
  }

  /** `speaker.stop` for one speaker of a broadcast, if it is still sending, queued or playing there. */
  private sendStop(user: AuthUser, id: string, key: string, delivery: SpeakerDelivery | undefined): boolean {
    if (!delivery || !['sending', 'queued', 'started'].includes(delivery.state)) return false;
    const d = this.registry.getDevice(key);
    if (!d) return false;
    try {
      this.commands.submit({
        user,
        gateway: d.gateway,
        device: d.device,
        action: 'speaker.stop',
        params: { broadcast: id },
        internal: true,
      });
      return true;
    } catch (err) {
      this.log.warn({ err: (err as Error).message, key }, 'stop not sent');
      return false;
    }
  }

  cancel(user: AuthUser, id: string): BroadcastView {
    const view = this.get(user, id);
    if (view.state === 'done' || view.state === 'cancelled') return view;
    this.assertMayStop(user, view);
    for (const [key, delivery] of Object.entries(view.speakers)) this.sendStop(user, id, key, delivery);
    view.state = 'cancelled';
    this.stmt.update.run('cancelled', null, JSON.stringify(view.speakers), id);
    this.live.delete(id);
    this.audit.append({ actor: user.username, action: 'broadcast.cancel', target: id, outcome: 'ok' });
    this.bus.emit('broadcastChanged', { broadcast: this.publicView(view) });
    return view;
  }

  /**
   * Stops one speaker of a broadcast (a loudspeaker that should fall silent while the others go
   * on). The speaker reports the interruption itself (`playback.interrupted`), which is what its
   * delivery then shows; the broadcast is done once every speaker has ended.
   */
  stopSpeaker(user: AuthUser, id: string, key: string): BroadcastView {
    const view = this.visible(user, id);
    const delivery = view.speakers[key];
    if (!delivery)
      throw new HubError('HUB_ERR_NOT_FOUND', `${key} is not a speaker of this broadcast`, {
        field: 'speaker',
        reason: 'no_target',
      });
    const d = this.registry.getDevice(key);
    if (d && !userMaySee(user, d.site))
      throw new HubError('HUB_ERR_FORBIDDEN', `${key} is outside your sites`, {
        field: 'speaker',
        reason: 'out_of_scope',
      });
    this.assertMayStop(user, view);
    if (view.state === 'done' || view.state === 'cancelled' || !this.sendStop(user, id, key, delivery))
      throw new HubError('HUB_ERR_CONFLICT', `${key} is not playing this broadcast`, {
        field: 'speaker',
        reason: 'already_ended',
      });
    this.audit.append({
      actor: user.username,
      action: 'broadcast.stop_speaker',
      target: id,
      outcome: 'ok',
      detail: { speaker: key },
    });
    return this.publicView(view);
  }

  get(user: AuthUser, id: string): BroadcastView {
    return this.publicView(this.visible(user, id));
  }

  /** The broadcast as kept (live or stored), when all of its villages are in `user`'s scope. */
  private visible(user: AuthUser, id: string): BroadcastView {
    const view = this.live.get(id) ?? this.load(id);
    if (!view || !view.sites.every((s) => userMaySee(user, s)))
      throw new HubError('HUB_ERR_NOT_FOUND', 'no such broadcast');
    return view;
  }

  list(user: AuthUser, limit: number): BroadcastView[] {
    return this.stmt.recent
      .all(Math.min(limit * 4, 4000))
      .map((r) => this.live.get(r.id) ?? this.fromRow(r))
      .filter((v) => v.sites.every((s) => userMaySee(user, s)))
      .slice(0, limit)
      .map((v) => this.publicView(v));
  }

  /**
   * The browser's one-time talk token → its session, for `presenter` (the live login session that
   * opened the socket). A talk token is a capability to speak on loudspeakers, so it is bound to the
   * session it was issued to (a copy in anyone else's hands — another village's operator, the same
   * officer after logging out — is refused), and the speakers must still be in the presenter's
   * scope now. Consumed only by its own session: a stranger presenting it cannot spend it.
   */
  takeTalkToken(
    token: string,
    presenter: AuthUser,
    now = Date.now(),
  ): { session: string } | { refused: 'talk_token' | 'talk_other_session' | 'talk_scope' } {
    for (const [k, v] of this.talkTokens) if (v.expiresAt < now) this.talkTokens.delete(k);
    const t = this.talkTokens.get(token);
    const talk = t ? this.talkSessions.get(t.session) : undefined;
    if (!t || !talk) return { refused: 'talk_token' };
    if (t.sid !== presenter.sid || t.username !== presenter.username)
      return { refused: 'talk_other_session' };
    this.talkTokens.delete(token);
    if (!talk.sites.every((site) => userMaySee(presenter, site))) return { refused: 'talk_scope' };
    return { session: t.session };
  }

  private body(view: BroadcastView) {
    const { speakers: _s, state: _st, talk: _t, ...rest } = view;
    return rest;
  }

  private publicView(view: BroadcastView): BroadcastView {
    const { talk: _t, ...rest } = view;
    return rest;
  }

  private load(id: string): BroadcastView | undefined {
    const row = this.stmt.get.get(id);
    return row ? this.fromRow(row) : undefined;
  }

  private fromRow(row: Row): BroadcastView {
    return {
      ...(JSON.parse(row.body) as Omit<BroadcastView, 'speakers' | 'state'>),
      state: row.state,
      speakers: JSON.parse(row.speakers) as BroadcastView['speakers'],
    };
  }
}

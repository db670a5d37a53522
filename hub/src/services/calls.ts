/**
 * Video calls between the command room and villages: the hub rings, relays WebRTC signalling
 * (SDP offers/answers, ICE candidates) between participants' sockets and keeps the call log. Media
 * goes browser to browser (a mesh of up to MAX_CALL_PARTICIPANTS); on a LAN no STUN/TURN is needed,
 * on routed networks the configured TURN servers are handed to the browsers.
 *
 * Who rings: for a call to sites, the village operators (scoped users) of those sites; for a call to
 * the command room, the duty officers and administrators whose scope covers the caller's village.
 * A village operator may call the command room (and nothing else); an officer may call any site in
 * scope. A participant's socket closing hangs it up. Unanswered calls become `missed` after the ring
 * time. Changes are announced on the bus (`callChanged`).
 *
 * Ringing is bounded (the hostile pass: a village operator rang the officers' dashboards 14,298
 * times in 10 s by starting and hanging up): a user starts at most `maxStartsPer10s` calls in any
 * 10 s, and a caller has at most one call ringing for the same callee (the same sites, or the
 * command room). Each refusal is a `CallRefused` with its reason, counted and logged by the plugin.
 */
import { randomUUID } from 'node:crypto';
import {
  type CallStart,
  type CallView,
  hasRole,
  MAX_CALL_PARTICIPANTS,
  may,
  userMaySee,
  VILLAGE,
} from '@qianliyan/protocols';
import { HubError } from '../errors.ts';
import type { SqlDatabase } from '../stores/sql.ts';
import type { EventBus } from './event-bus.ts';
import type { AuthUser } from './sessions.ts';
import { TokenBucket } from './token-bucket.ts';

/** A call refused for a limit: its reason labels `qly_socket_refused_total{reason="call_<reason>"}`. */
export class CallRefused extends HubError {
  constructor(
    readonly reason: 'start_rate' | 'ringing',
    code: 'HUB_ERR_RATE_LIMITED' | 'HUB_ERR_CONFLICT',
    message: string,
  ) {
    super(code, message);
  }
}

const MAX_LOG_ROWS = 20_000;
const MAX_OPEN_CALLS_PER_USER = 2;

const calleeKey = (sites: string[], commandRoom: boolean) =>
  `${commandRoom ? 'room' : ''}|${[...sites].sort().join(',')}`;

export interface CallPeer {
  id: string;
  user: AuthUser;
}

export class CallService {
  private readonly calls = new Map<string, CallView>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Call starts per user (outsiders choose the usernames they log in as, not how many: bounded anyway). */
  private readonly starts = new Map<string, TokenBucket>();
  private readonly stmt;

  constructor(
    private readonly db: SqlDatabase,
    private readonly bus: EventBus,
    private readonly options: {
      ringTimeoutMs: number;
      maxStartsPer10s: number;
      mayOpenIncident: (user: AuthUser, id: number) => boolean;
    },
  ) {
    this.stmt = {
      save: db.prepare<[string, number, string]>(
        'INSERT INTO calls (id, created_at, body) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET body = excluded.body',
      ),
      recent: db.prepare<[number], { body: string }>(
        'SELECT body FROM calls ORDER BY created_at DESC LIMIT ?',
      ),
      prune: db.prepare<[number]>(
        'DELETE FROM calls WHERE created_at < (SELECT created_at FROM calls ORDER BY created_at DESC LIMIT 1 OFFSET ?)',
      ),
    };
  }

  stop(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  get(id: string): CallView | undefined {
    return this.calls.get(id);
  }

  /** Open (ringing or active) calls. */
  open(): CallView[] {
    return [...this.calls.values()];
  }

  /** Whether `user` should ring for `call`. */
  ringsFor(user: AuthUser, call: CallView): boolean {
    if (call.participants.some((p) => p.username === user.username)) return false;
    if (call.to.sites.length > 0 && user.sites.length > 0 && call.to.sites.some((s) => userMaySee(user, s)))
      return true;
    if (call.to.commandRoom && may(user.role, 'answerCommandRoom'))
      return call.fromSite === null || userMaySee(user, call.fromSite);
    return false;
  }

  /** Whether `user` may take part (answer, signal, see it in the log). */
  mayJoin(user: AuthUser, call: CallView): boolean {
    return (
      call.participants.some((p) => p.username === user.username) ||
      this.ringsFor(user, call) ||
      (may(user.role, 'answerCommandRoom') &&
        call.to.sites.every((s) => userMaySee(user, s)) &&
        (call.fromSite === null || userMaySee(user, call.fromSite)))
    );
  }

  start(caller: CallPeer, req: CallStart): CallView {
    const { user } = caller;
    const sites = [...new Set(req.sites ?? [])];
    const commandRoom = req.commandRoom ?? false;
    if (sites.length === 0 && !commandRoom)
      throw new HubError('HUB_ERR_VALIDATION', 'a call needs sites or the command room');
    if (!may(user.role, 'placeCall'))
      throw new HubError('HUB_ERR_FORBIDDEN', `the role ${user.role} may not place calls`);
    if (sites.length > 0 && !may(user.role, 'callVillage'))
      throw new HubError('HUB_ERR_FORBIDDEN', 'a village terminal calls the command room');
    for (const s of sites)
      if (!userMaySee(user, s)) throw new HubError('HUB_ERR_FORBIDDEN', `${s} is outside your sites`);
    if (req.incident !== undefined && !this.options.mayOpenIncident(user, req.incident))
      throw new HubError('HUB_ERR_NOT_FOUND', `no incident ${req.incident}`);
    // One ringing call per caller and callee: ringing again for the same people adds nothing.
    const callee = calleeKey(sites, commandRoom);
    for (const c of this.calls.values())
      if (
        c.state === 'ringing' &&
        c.from === user.username &&
        calleeKey(c.to.sites, c.to.commandRoom) === callee
      )
        throw new CallRefused('ringing', 'HUB_ERR_CONFLICT', 'this call is already ringing');
    if (!this.startBucket(user.username).take())
      throw new CallRefused(
        'start_rate',
        'HUB_ERR_RATE_LIMITED',
        'too many calls started; wait a few seconds',
      );
    const mine = [...this.calls.values()].filter((c) =>
      c.participants.some((p) => p.username === user.username),
    );
    if (mine.length >= MAX_OPEN_CALLS_PER_USER)
      throw new HubError('HUB_ERR_CONFLICT', 'hang up a call before starting another', { reason: 'busy' });
    const now = Date.now();
    const call: CallView = {
      id: randomUUID(),
      from: user.username,
      // A village operator calls from their village; the command room from nowhere in particular.
      fromSite: hasRole(user.role, VILLAGE) ? (user.sites[0] ?? null) : null,
      to: { sites, commandRoom },
      state: 'ringing',
      participants: [{ username: user.username, socket: caller.id, joinedAt: now }],
      joined: [user.username],
      incident: req.incident ?? null,
      camera: null,
      createdAt: now,
      answeredAt: null,
      endedAt: null,
    };
    this.calls.set(call.id, call);
    this.timers.set(
      call.id,
      setTimeout(() => {
        const c = this.calls.get(call.id);
        if (c?.state === 'ringing') this.finish(c, 'missed');
      }, this.options.ringTimeoutMs),
    );
    this.changed(call);
    return call;
  }

  accept(peer: CallPeer, id: string): CallView {
    const call = this.mustJoin(peer.user, id);
    if (call.participants.some((p) => p.socket === peer.id)) return call;
    if (call.participants.length >= MAX_CALL_PARTICIPANTS)
      throw new HubError('HUB_ERR_CONFLICT', `a call holds at most ${MAX_CALL_PARTICIPANTS} participants`);
    call.participants.push({ username: peer.user.username, socket: peer.id, joinedAt: Date.now() });
    if (!call.joined.includes(peer.user.username)) call.joined.push(peer.user.username);
    if (call.state === 'ringing') {
      call.state = 'active';
      call.answeredAt = Date.now();
      clearTimeout(this.timers.get(id));
      this.timers.delete(id);
    }
    this.changed(call);
    return call;
  }

  decline(peer: CallPeer, id: string): CallView {
    const call = this.mustJoin(peer.user, id);
    // A one-to-one call that nobody has answered ends; otherwise the decline is just this person's.
    if (call.state === 'ringing' && call.participants.length === 1) this.finish(call, 'declined');
    return call;
  }

  hangup(peer: CallPeer, id: string): CallView | undefined {
    const call = this.calls.get(id);
    if (!call) return undefined;
    const before = call.participants.length;
    call.participants = call.participants.filter((p) => p.socket !== peer.id);
    if (call.participants.length === before) return call;
    if (call.participants.length <= 1 && call.state === 'active') this.finish(call, 'ended');
    else if (call.participants.length === 0) this.finish(call, call.state === 'ringing' ? 'missed' : 'ended');
    else this.changed(call);
    return call;
  }

  /** Every call a closed socket took part in is hung up for it. */
  socketGone(peer: CallPeer): void {
    for (const call of [...this.calls.values()])
      if (call.participants.some((p) => p.socket === peer.id)) this.hangup(peer, call.id);
  }

  /** Shows a camera inside the call (or none); each participant opens it with its own permission. */
  showCamera(peer: CallPeer, id: string, camera: string | null): CallView {
    const call = this.mustJoin(peer.user, id);
    if (!call.participants.some((p) => p.socket === peer.id))
      throw new HubError('HUB_ERR_FORBIDDEN', 'only a participant may show a camera');
    call.camera = camera;
    this.changed(call);
    return call;
  }

  /** Where a signal from `peer` to socket `to` may go: both must be participants of the call. */
  relayTarget(peer: CallPeer, id: string, to: string): string {
    const call = this.calls.get(id);
    if (!call) throw new HubError('HUB_ERR_NOT_FOUND', 'no such call');
    if (
      !call.participants.some((p) => p.socket === peer.id) ||
      !call.participants.some((p) => p.socket === to)
    )
      throw new HubError('HUB_ERR_FORBIDDEN', 'signals go between participants of a call');
    return to;
  }

  /** The call log as `user` may see it, newest first. */
  log(user: AuthUser, limit: number): CallView[] {
    const out: CallView[] = [];
    for (const c of this.calls.values()) if (this.mayJoin(user, c) || c.from === user.username) out.push(c);
    for (const row of this.stmt.recent.all(2000)) {
      const c = JSON.parse(row.body) as CallView;
      if (this.calls.has(c.id)) continue;
      const joined = c.joined.includes(user.username) || c.from === user.username;
      const inScope =
        (c.fromSite === null || userMaySee(user, c.fromSite)) &&
        c.to.sites.every((s) => userMaySee(user, s)) &&
        (!hasRole(user.role, VILLAGE) || c.fromSite !== null || c.to.sites.length > 0);
      if (joined || inScope) out.push(c);
      if (out.length >= limit) break;
    }
    return out.sort((a, b) => b.createdAt - a.createdAt).slice(0, limit);
  }

  private startBucket(username: string): TokenBucket {
    let bucket = this.starts.get(username);
    if (!bucket) {
      if (this.starts.size >= 10_000)
        for (const [name, b] of this.starts) if (b.has(b.burst)) this.starts.delete(name);
      const n = this.options.maxStartsPer10s;
      bucket = new TokenBucket(n / 10, n);
      this.starts.set(username, bucket);
    }
    return bucket;
  }

  private mustJoin(user: AuthUser, id: string): CallView {
    const call = this.calls.get(id);
    if (!call) throw new HubError('HUB_ERR_NOT_FOUND', 'no such call (it may have ended)');
    if (!this.mayJoin(user, call)) throw new HubError('HUB_ERR_FORBIDDEN', 'this call is not for you');
    return call;
  }

  private finish(call: CallView, state: 'ended' | 'missed' | 'declined'): void {
    call.state = state;
    call.endedAt = Date.now();
    clearTimeout(this.timers.get(call.id));
    this.timers.delete(call.id);
    this.calls.delete(call.id);
    this.changed(call);
  }

  private changed(call: CallView): void {
    // The log keeps every call as it stands; the oldest go beyond MAX_LOG_ROWS.
    this.stmt.save.run(call.id, call.createdAt, JSON.stringify({ ...call }));
    if (Math.random() < 0.01) this.stmt.prune.run(MAX_LOG_ROWS);
    this.bus.emit('callChanged', { call: { ...call, participants: [...call.participants] } });
  }
}

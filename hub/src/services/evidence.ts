/**
 * Evidence: the clip of an alarm or incident, pulled from the gateway's recording to the hub.
 *
 * - **What asks for one.** A camera event alarm of a type in `recording.clipEventTypes` (intrusion,
 *   line crossing, tamper), and every incident opened from a camera's alarm. The clip runs from
 *   `clipBeforeMs` before the alarm to `clipAfterMs` after it.
 * - **When it is pulled.** Once the gateway has recorded past the clip's end, and its gateway is
 *   online; a pull that fails (gateway offline, uplink down, upload cut) is tried again after
 *   `retryMs`, at once when the gateway comes back, up to `maxAttempts`. The gateway cuts the clip
 *   (`-c copy`) and uploads it paced (`recording.clip`, one clip at a time), so a pull never takes
 *   the whole uplink from live video or the telemetry outbox.
 * - **How it is kept.** By the SHA-256 of its bytes (`<dataDir>/evidence/<sha256>.mp4`): the same
 *   clip pulled twice is one file. Kept while its incident is open and `keepAfterCloseMs` after it
 *   closes (an alarm's clip without an incident: that long after it was stored), whatever the
 *   gateway's ring buffer has overwritten meanwhile. Each stored clip's hash goes to the audit log.
 * - **Who gets it.** Only a user whose scope covers the camera's village: listing, tokens and
 *   downloads check it. A download needs a token (random, stored as its hash, good once and for
 *   `tokenTtlMs`); each download is audited with the clip's SHA-256.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type AlarmView,
  type EvidenceState,
  type EvidenceView,
  type IncidentView,
  parseDeviceKey,
  type StreamName,
  userMaySee,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import type { HubConfig } from '../config.ts';
import { HubError } from '../errors.ts';
import type { SqlDatabase } from '../stores/sql.ts';
import type { AuditLog } from './audit-log.ts';
import type { CommandService } from './commands.ts';
import type { EventBus } from './event-bus.ts';
import type { RecordingIndexStore } from './recording-index.ts';
import type { Registry } from './registry.ts';
import type { AuthUser } from './sessions.ts';

export type EvidenceOptions = HubConfig['recording'] & { clock: () => number };

/** Where a download token is redeemed. */
export const EVIDENCE_FILE_PATH = '/api/evidence/file';

/** How long after a clip's end the gateway has surely closed the segment holding it. */
const RECORDED_MARGIN_MS = 15_000;
/** The actor of what the hub does by itself. */
const HUB_ACTOR = 'hub';

interface Row {
  id: number;
  site: string;
  device: string;
  stream: string;
  alarm: number | null;
  incident: number | null;
  from_ts: number;
  to_ts: number;
  state: EvidenceState;
  upload: string;
  sha256: string | null;
  bytes: number | null;
  duration_ms: number | null;
  attempts: number;
  next_at: number;
  error: string | null;
  created_at: number;
  updated_at: number;
  expires_at: number | null;
}

export type UploadRefusal = 'no_upload' | 'wrong_gateway' | 'too_large' | 'not_mp4';

export class UploadRefused extends Error {
  constructor(
    readonly reason: UploadRefusal,
    message: string,
  ) {
    super(message);
  }
}

const view = (r: Row): EvidenceView => ({
  id: Number(r.id),
  device: r.device,
  site: r.site,
  alarm: r.alarm === null ? null : Number(r.alarm),
  incident: r.incident === null ? null : Number(r.incident),
  from: Number(r.from_ts),
  to: Number(r.to_ts),
  state: r.state,
  sha256: r.sha256,
  bytes: r.bytes === null ? null : Number(r.bytes),
  durationMs: r.duration_ms === null ? null : Number(r.duration_ms),
  attempts: Number(r.attempts),
  error: r.error,
  createdAt: Number(r.created_at),
});

export class EvidenceService {
  readonly dir: string;
  private readonly stmt;
  private timer: NodeJS.Timeout | undefined;
  private readonly offs: Array<() => void> = [];
  /** Whether each gateway was last seen up: a gateway coming back wakes its waiting pulls. */
  private readonly gatewaysUp = new Map<string, boolean>();
  /** Pulls in flight on this hub, by evidence id. */
  private readonly pulling = new Set<number>();
  /** Refusals of uploads and downloads, by reason (for /metrics and the tests). */
  readonly refused: Record<string, number> = {};

  constructor(
    db: SqlDatabase,
    dataDir: string,
    private readonly registry: Registry,
    private readonly index: RecordingIndexStore,
    private readonly commands: CommandService,
    private readonly audit: AuditLog,
    private readonly bus: EventBus,
    private readonly log: FastifyBaseLogger,
    private readonly options: EvidenceOptions,
  ) {
    this.dir = join(dataDir, 'evidence');
    mkdirSync(join(this.dir, 'incoming'), { recursive: true, mode: 0o700 });
    this.stmt = {
      insert: db.prepare<
        [
          string,
          string,
          string,
          number | null,
          number | null,
          number,
          number,
          string,
          number,
          number,
          number,
        ],
        { id: number }
      >(
        `INSERT INTO evidence (site, device, stream, alarm, incident, from_ts, to_ts, state, upload, attempts,
           next_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, 0, ?, ?, ?) RETURNING id`,
      ),
      get: db.prepare<[number], Row>('SELECT * FROM evidence WHERE id = ?'),
      byUpload: db.prepare<[string], Row>('SELECT * FROM evidence WHERE upload = ?'),
      ofAlarm: db.prepare<[number], Row>('SELECT * FROM evidence WHERE alarm = ? ORDER BY id'),
      ofIncident: db.prepare<[number, number], Row>(
        'SELECT * FROM evidence WHERE incident = ? OR (alarm IS NOT NULL AND alarm = ?) ORDER BY id',
      ),
      /** Pending, due, and recorded past its end by now (`now - margin`). */
      due: db.prepare<[number, number], Row>(
        "SELECT * FROM evidence WHERE state = 'pending' AND next_at <= ? AND to_ts <= ? ORDER BY next_at LIMIT 20",
      ),
      claim: db.prepare<[number, number]>(
        "UPDATE evidence SET state = 'pulling', attempts = attempts + 1, updated_at = ? WHERE id = ? AND state = 'pending'",
      ),
      retry: db.prepare<[string, number, number, number]>(
        "UPDATE evidence SET state = 'pending', error = ?, next_at = ?, updated_at = ? WHERE id = ? AND state = 'pulling'",
      ),
      postpone: db.prepare<[string, number, number, number]>(
        "UPDATE evidence SET error = ?, next_at = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
      ),
      fail: db.prepare<[string, number, number]>(
        "UPDATE evidence SET state = 'failed', error = ?, updated_at = ? WHERE id = ? AND state <> 'stored'",
      ),
      stored: db.prepare<[string, number, number | null, number, number | null, number]>(
        "UPDATE evidence SET state = 'stored', sha256 = ?, bytes = ?, duration_ms = ?, updated_at = ?, expires_at = ?, error = NULL WHERE id = ?",
      ),
      /** A gateway's waiting pulls, due now (its clips' devices are `<gateway>.<camera>`). */
      wake: db.prepare<[number, number, number, number, string]>(
        `UPDATE evidence SET next_at = CASE WHEN to_ts + ? > ? THEN next_at ELSE ? END
         WHERE state = 'pending' AND substr(device, 1, ?) = ? AND next_at > 0`,
      ),
      keepUnattached: db.prepare<[number, number]>(
        'UPDATE evidence SET expires_at = ? WHERE id = ? AND incident IS NULL',
      ),
      attach: db.prepare<[number, number]>(
        'UPDATE evidence SET incident = ? WHERE alarm = ? AND incident IS NULL',
      ),
      expireOf: db.prepare<[number | null, number, number]>(
        "UPDATE evidence SET expires_at = ? WHERE (incident = ? OR alarm = ?) AND state = 'stored'",
      ),
      expired: db.prepare<[number], Row>(
        'SELECT * FROM evidence WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT 100',
      ),
      remove: db.prepare<[number]>('DELETE FROM evidence WHERE id = ?'),
      hashUsers: db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM evidence WHERE sha256 = ?'),
      insertToken: db.prepare<[string, number, string, number]>(
        'INSERT INTO evidence_tokens (token, evidence, username, expires_at) VALUES (?, ?, ?, ?)',
      ),
      redeem: db.prepare<[number, string, number], { evidence: number; username: string }>(
        'UPDATE evidence_tokens SET used_at = ? WHERE token = ? AND used_at IS NULL AND expires_at > ? RETURNING evidence, username',
      ),
      tokenState: db.prepare<[string], { used_at: number | null; expires_at: number }>(
        'SELECT used_at, expires_at FROM evidence_tokens WHERE token = ?',
      ),
      pruneTokens: db.prepare<[number]>('DELETE FROM evidence_tokens WHERE expires_at < ?'),
      /** Pulls a hub was doing when it stopped: pending again. */
      unstick: db.prepare<[number]>(
        "UPDATE evidence SET state = 'pending' WHERE state = 'pulling' AND updated_at < ?",
      ),
    };
  }

  start(mayRun: () => boolean = () => true): void {
    this.offs.push(
      this.bus.on('alarmChanged', 'evidence', ({ alarm }) => this.onAlarm(alarm)),
      this.bus.on('incidentChanged', 'evidence', ({ incident }) => this.onIncident(incident)),
      this.bus.on('gatewayChanged', 'evidence', ({ id }) => {
        // The gateway is back: its waiting clips are pulled now, not at their next retry.
        const g = this.registry.getGateway(id);
        const up = !!g?.online && !g.stale;
        const was = this.gatewaysUp.get(id);
        this.gatewaysUp.set(id, up);
        if (!up || was !== false) return;
        const now = this.options.clock();
        this.stmt.wake.run(RECORDED_MARGIN_MS, now, now, id.length + 1, `${id}.`);
      }),
    );
    this.timer = setInterval(() => {
      if (!mayRun()) return;
      try {
        this.tick();
      } catch (err) {
        this.log.error({ err }, 'evidence tick failed');
      }
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    for (const off of this.offs) off();
  }

  private refuse(reason: string, fields: object, message: string): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
    this.log.warn({ reason, ...fields }, message);
  }

  // ---- what asks for a clip ----

  private isRecordedCamera(key: string): boolean {
    const d = this.registry.getDevice(key);
    return d?.kind === 'camera';
  }

  /**
   * A new camera event alarm, or a repeat of one outside the clips it has: a clip around it. (An
   * alarm changes for many reasons — acknowledged, cleared, escalated — that ask for nothing.)
   */
  private onAlarm(alarm: AlarmView): void {
    if (alarm.source !== 'event' || alarm.state !== 'active') return;
    if (!this.options.clipEventTypes.includes(alarm.type)) return;
    if (!this.isRecordedCamera(alarm.device)) return;
    const at = alarm.count === 1 ? alarm.ts : alarm.lastTs;
    if (this.stmt.ofAlarm.all(alarm.id).some((e) => Number(e.from_ts) <= at && at <= Number(e.to_ts))) return;
    this.request({ device: alarm.device, site: alarm.site, at, alarm: alarm.id, incident: alarm.incident });
  }

  private onIncident(incident: IncidentView): void {
    if (incident.alarm !== null) {
      const alarm = incident.alarm;
      this.stmt.attach.run(incident.id, alarm);
      if (this.stmt.ofAlarm.all(alarm).length === 0) {
        const a = this.alarmOf(alarm);
        if (a && this.isRecordedCamera(a.device))
          this.request({ device: a.device, site: a.site, at: a.ts, alarm, incident: incident.id });
      }
    }
    // Kept while open; a closed incident's clips expire `keepAfterCloseMs` after it closed.
    const expires =
      incident.status === 'closed' && incident.closedAt !== null
        ? incident.closedAt + this.options.keepAfterCloseMs
        : null;
    this.stmt.expireOf.run(expires, incident.id, incident.alarm ?? -1);
  }

  /** Set by the plugin: reads one alarm (the alarm service is not imported here). */
  alarmOf: (id: number) => AlarmView | undefined = () => undefined;

  /** Asks for the clip around `at` of one camera. */
  request(r: {
    device: string;
    site: string;
    at: number;
    alarm?: number | null;
    incident?: number | null;
    stream?: StreamName;
  }): EvidenceView {
    const now = this.options.clock();
    const from = r.at - this.options.clipBeforeMs;
    const to = r.at + this.options.clipAfterMs;
    const upload = randomBytes(24).toString('base64url');
    const stream = r.stream ?? 'sub';
    const row = this.stmt.insert.get(
      r.site,
      r.device,
      stream,
      r.alarm ?? null,
      r.incident ?? null,
      from,
      to,
      upload,
      // Not before the gateway has recorded past the end.
      to + RECORDED_MARGIN_MS,
      now,
      now,
    ) as { id: number };
    this.log.info(
      { id: row.id, device: r.device, from, to, alarm: r.alarm ?? null },
      'evidence clip requested',
    );
    return view(this.stmt.get.get(Number(row.id)) as Row);
  }

  // ---- pulling ----

  /** Starts the pulls that are due; expires what is past its keeping time. */
  tick(now = this.options.clock()): void {
    for (const row of this.stmt.due.all(now, now - RECORDED_MARGIN_MS)) void this.pull(row, now);
    for (const row of this.stmt.expired.all(now)) this.expire(row);
    this.stmt.pruneTokens.run(now - 3_600_000);
    this.stmt.unstick.run(now - this.options.pullTimeoutMs - 30_000);
  }

  private async pull(row: Row, now: number): Promise<void> {
    const id = Number(row.id);
    if (this.pulling.has(id)) return;
    const key = parseDeviceKey(row.device);
    if (!key) return void this.stmt.fail.run('not a device key', now, id);
    const gateway = this.registry.getGateway(key.gateway);
    if (!gateway?.online || gateway.stale) {
      this.stmt.postpone.run('the gateway is offline', now + this.options.retryMs, now, id);
      return;
    }
    // The gateway's index says it has not recorded that far yet (its clock, or a restart, is behind):
    // a little later, within reason (an index that never gets there does not hold the pull forever).
    const last = this.index.view(key.gateway, key.device, row.site).ranges.at(-1);
    if (last && last[1] < Number(row.to_ts) && now < Number(row.to_ts) + 4 * RECORDED_MARGIN_MS) {
      this.stmt.postpone.run('not recorded that far yet', now + 2000, now, id);
      return;
    }
    if (this.stmt.claim.run(now, id).changes !== 1) return; // another hub has it
    this.pulling.add(id);
    const fail = (message: string, final: boolean) => {
      const attempts = Number(row.attempts) + 1;
      if (final || attempts >= this.options.maxAttempts) {
        this.stmt.fail.run(message.slice(0, 500), this.options.clock(), id);
        this.log.warn({ id, err: message }, 'evidence clip failed for good');
      } else {
        this.stmt.retry.run(
          message.slice(0, 500),
          this.options.clock() + this.options.retryMs,
          this.options.clock(),
          id,
        );
        this.log.info({ id, err: message }, 'evidence pull failed; trying again later');
      }
    };
    try {
      const submitted = this.commands.submit({
        user: { username: 'evidence', role: 'village_operator', sites: [row.site], sid: 'evidence' },
        gateway: key.gateway,
        device: null,
        action: 'recording.clip',
        params: {
          device: key.device,
          stream: row.stream,
          from: Number(row.from_ts),
          to: Number(row.to_ts),
          upload: row.upload,
        },
        internal: true,
        timeoutMs: this.options.pullTimeoutMs,
      });
      const result = await this.commands.wait(submitted.id, this.options.pullTimeoutMs + 5000);
      const after = this.stmt.get.get(id);
      if (after?.state === 'stored') return;
      if (result.status === 'ok') return fail('the gateway answered but no clip arrived', false);
      const code = result.error?.code ?? '';
      // Nothing recorded there (the ring buffer overwrote it, or the camera was not recording).
      fail(
        result.error?.message ?? `the pull ended ${result.status}`,
        code === 'EDGE_ERR_NO_RECORDING' || code === 'EDGE_ERR_NOT_RECORDED',
      );
    } catch (err) {
      fail((err as Error).message, false);
    } finally {
      this.pulling.delete(id);
    }
  }

  /**
   * A gateway's upload for a clip this hub asked for: streamed to disk while hashed, bounded in
   * size, checked to be an MP4, then stored under its hash. The audit log gets the hash.
   */
  async acceptUpload(upload: string, gateway: string, body: Readable): Promise<EvidenceView> {
    const row = this.stmt.byUpload.get(upload);
    const fields = { upload: upload.slice(0, 8), gateway };
    if (!row || row.state === 'stored') {
      this.refuse('no_upload', fields, 'clip upload for nothing this hub asked for');
      throw new UploadRefused('no_upload', 'no such clip request');
    }
    if (parseDeviceKey(row.device)?.gateway !== gateway) {
      this.refuse('wrong_gateway', fields, 'clip upload from another gateway');
      throw new UploadRefused('wrong_gateway', 'no such clip request');
    }
    const incoming = join(this.dir, 'incoming', `${upload}.part`);
    const hash = createHash('sha256');
    let bytes = 0;
    const max = this.options.maxClipBytes;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        if (bytes > max) return done(new UploadRefused('too_large', `a clip is at most ${max} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(incoming, { mode: 0o600 }));
      const durationMs = mp4DurationMs(incoming);
      if (durationMs === undefined) throw new UploadRefused('not_mp4', 'not an MP4 file');
      const sha256 = hash.digest('hex');
      const file = this.fileOf(sha256);
      if (existsSync(file)) rmSync(incoming, { force: true });
      else renameSync(incoming, file);
      const now = this.options.clock();
      this.stmt.stored.run(sha256, bytes, durationMs, now, null, Number(row.id));
      this.audit.append({
        actor: HUB_ACTOR,
        action: 'evidence.stored',
        target: `evidence:${row.id}`,
        outcome: 'ok',
        detail: {
          sha256,
          bytes,
          durationMs,
          device: row.device,
          from: Number(row.from_ts),
          to: Number(row.to_ts),
          alarm: row.alarm === null ? null : Number(row.alarm),
          incident: row.incident === null ? null : Number(row.incident),
        },
      });
      this.log.info({ id: row.id, sha256, bytes, durationMs }, 'evidence clip stored');
      // An alarm's clip with no incident yet is kept `keepAfterCloseMs` from now, unless an incident takes it.
      if (row.incident === null)
        this.stmt.keepUnattached.run(now + this.options.keepAfterCloseMs, Number(row.id));
      return view(this.stmt.get.get(Number(row.id)) as Row);
    } catch (err) {
      rmSync(incoming, { force: true });
      if (err instanceof UploadRefused) this.refuse(err.reason, fields, err.message);
      throw err;
    }
  }

  private fileOf(sha256: string): string {
    return join(this.dir, `${sha256}.mp4`);
  }

  private expire(row: Row): void {
    this.stmt.remove.run(Number(row.id));
    if (row.sha256 && (this.stmt.hashUsers.get(row.sha256)?.n ?? 0) === 0)
      rmSync(this.fileOf(row.sha256), { force: true });
    this.log.info({ id: row.id, sha256: row.sha256 }, 'evidence clip expired');
  }

  // ---- who sees it ----

  private visible(user: AuthUser, id: number): Row {
    const row = this.stmt.get.get(id);
    if (!row) throw new HubError('HUB_ERR_NOT_FOUND', `no clip ${id}`);
    if (!userMaySee(user, row.site)) {
      this.refuse('out_of_scope', { user: user.username, id }, 'clip outside the user’s sites');
      throw new HubError('HUB_ERR_NOT_FOUND', `no clip ${id}`);
    }
    return row;
  }

  get(user: AuthUser, id: number): EvidenceView {
    return view(this.visible(user, id));
  }

  /** The clips of an incident (the caller has checked the user may see the incident). */
  ofIncident(incident: IncidentView): EvidenceView[] {
    return this.stmt.ofIncident.all(incident.id, incident.alarm ?? -1).map(view);
  }

  ofAlarm(alarm: number): EvidenceView[] {
    return this.stmt.ofAlarm.all(alarm).map(view);
  }

  /** A one-use download token for a stored clip the user may see. */
  issueToken(user: AuthUser, id: number): { token: string; expiresAt: number; path: string } {
    const row = this.visible(user, id);
    if (row.state !== 'stored' || !row.sha256)
      throw new HubError('HUB_ERR_NOT_FOUND', `clip ${id} is not on the hub yet (${row.state})`);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = this.options.clock() + this.options.tokenTtlMs;
    this.stmt.insertToken.run(tokenHash(token), id, user.username, expiresAt);
    return { token, expiresAt, path: `${EVIDENCE_FILE_PATH}?token=${token}` };
  }

  /** Redeems a token (once): the clip's file and view; audited with its hash. */
  redeem(token: string | undefined): { file: string; view: EvidenceView } {
    const now = this.options.clock();
    if (!token || token.length > 128) {
      this.refuse('no_token', {}, 'clip download without a token');
      throw new HubError('HUB_ERR_UNAUTHORIZED', 'a download token is required');
    }
    const hashed = tokenHash(token);
    const redeemed = this.stmt.redeem.get(now, hashed, now);
    if (!redeemed) {
      const known = this.stmt.tokenState.get(hashed);
      const reason = !known ? 'bad_token' : known.used_at !== null ? 'used_token' : 'expired_token';
      this.refuse(reason, {}, 'clip download refused');
      throw new HubError(
        'HUB_ERR_UNAUTHORIZED',
        reason === 'bad_token'
          ? 'invalid download token'
          : reason === 'used_token'
            ? 'the download token was used'
            : 'the download token has expired',
      );
    }
    const row = this.stmt.get.get(Number(redeemed.evidence));
    if (!row?.sha256 || !existsSync(this.fileOf(row.sha256)))
      throw new HubError('HUB_ERR_NOT_FOUND', 'the clip is no longer kept');
    this.audit.append({
      actor: redeemed.username,
      action: 'evidence.download',
      target: `evidence:${row.id}`,
      outcome: 'ok',
      detail: { sha256: row.sha256, bytes: Number(row.bytes), device: row.device },
    });
    return { file: this.fileOf(row.sha256), view: view(row) };
  }
}

const tokenHash = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * The duration of an MP4 from its `moov/mvhd` box (undefined for anything that is not an MP4 whose
 * first box is `ftyp`). The clip is written with `+faststart`, so `moov` comes right after `ftyp`.
 */
export function mp4DurationMs(file: string): number | undefined {
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const read = (pos: number, len: number) => {
      const b = Buffer.alloc(len);
      const n = readSync(fd, b, 0, len, pos);
      return b.subarray(0, n);
    };
    let pos = 0;
    let first = true;
    while (pos + 8 <= size) {
      const head = read(pos, 16);
      let boxSize = head.readUInt32BE(0);
      const type = head.toString('latin1', 4, 8);
      let headerSize = 8;
      if (boxSize === 1) {
        boxSize = Number(head.readBigUInt64BE(8));
        headerSize = 16;
      } else if (boxSize === 0) boxSize = size - pos;
      if (first && type !== 'ftyp') return undefined;
      first = false;
      if (boxSize < headerSize) return undefined;
      if (type === 'moov') {
        let inner = pos + headerSize;
        const end = pos + boxSize;
        while (inner + 8 <= end) {
          const h = read(inner, 8);
          const s = h.readUInt32BE(0);
          if (h.toString('latin1', 4, 8) === 'mvhd') {
            const body = read(inner + 8, 32);
            const version = body[0];
            const timescale = version === 1 ? body.readUInt32BE(20) : body.readUInt32BE(12);
            const duration = version === 1 ? Number(body.readBigUInt64BE(24)) : body.readUInt32BE(16);
            return timescale > 0 ? Math.round((duration / timescale) * 1000) : undefined;
          }
          if (s < 8) return undefined;
          inner += s;
        }
        return undefined;
      }
      pos += boxSize;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

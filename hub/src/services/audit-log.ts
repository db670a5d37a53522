/**
 * The audit log: append-only and hash-chained. Each entry's hash covers its own fields and the
 * previous entry's hash, so editing an entry breaks the chain from there on, and deleting one leaves
 * a gap in the sequence. The newest (seq, hash) — the head — is also written to `audit-head` beside
 * the database and logged, so cutting entries off the end is caught too (`verify` compares with the
 * head). Someone able to rewrite the database, the head file and the shipped logs together can
 * forge history: ship the logs off the machine (the head hash is in every `audit` log line).
 *
 * What is recorded: logins (ok and failed), logouts, user and gateway changes, every command (who,
 * what, target, params, result, timings), and later broadcasts and incident transitions.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';
import type { SqlDatabase, SqlStatement } from '../stores/sql.ts';

export type AuditOutcome = 'ok' | 'denied' | 'failed' | 'error' | 'timeout';

export interface AuditInput {
  actor: string;
  action: string;
  target?: string | null;
  outcome: AuditOutcome;
  detail?: Record<string, unknown>;
}

export interface AuditEntry {
  seq: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  detail: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  /** The first entry that does not verify, and why. */
  problem?: { seq: number; reason: string };
}

const GENESIS = '0'.repeat(64);

/** The hash of an entry: its fields in a fixed order, chained to the previous hash. */
export function entryHash(prevHash: string, e: Omit<AuditEntry, 'hash' | 'prevHash'>): string {
  const canonical = JSON.stringify([e.seq, e.ts, e.actor, e.action, e.target, e.outcome, e.detail]);
  return createHash('sha256').update(prevHash).update('\n').update(canonical).digest('hex');
}

interface Row {
  seq: number;
  ts: number;
  actor: string;
  action: string;
  target: string | null;
  outcome: AuditOutcome;
  detail: string;
  prev_hash: string;
  hash: string;
}

const toEntry = (r: Row): AuditEntry => ({
  seq: r.seq,
  ts: r.ts,
  actor: r.actor,
  action: r.action,
  target: r.target,
  outcome: r.outcome,
  detail: JSON.parse(r.detail) as Record<string, unknown>,
  prevHash: r.prev_hash,
  hash: r.hash,
});

export class AuditLog {
  private readonly insert: SqlStatement;
  private readonly last: SqlStatement<[], { seq: number; hash: string }>;
  /** The newest entry this hub wrote or saw: a database head behind it means entries were cut off. */
  private seen: { seq: number; hash: string };

  constructor(
    private readonly db: SqlDatabase,
    private readonly headFile: string,
    private readonly log: FastifyBaseLogger,
  ) {
    this.last = db.prepare('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    this.insert = db.prepare(
      `INSERT INTO audit (seq, ts, actor, action, target, outcome, detail, prev_hash, hash)
       VALUES (@seq, @ts, @actor, @action, @target, @outcome, @detail, @prevHash, @hash)`,
    );
    this.seen = this.last.get() ?? { seq: 0, hash: GENESIS };
  }

  /**
   * Appends one entry after the chain's head as the database has it: several hubs append to one
   * chain, so the head is read under a lock in the appending transaction, never kept in memory.
   */
  append(input: AuditInput): AuditEntry {
    const entry = this.db.transaction(() => {
      this.db.lock('qly:audit');
      const stored = this.last.get() ?? { seq: 0, hash: GENESIS };
      // Entries cut off the end are not papered over: the chain goes on after the newest entry this
      // hub knows, and the gap shows in `verify`.
      const head = stored.seq >= this.seen.seq ? stored : this.seen;
      const base = {
        seq: head.seq + 1,
        ts: Date.now(),
        actor: input.actor.slice(0, 128),
        action: input.action,
        target: input.target ?? null,
        outcome: input.outcome,
        detail: input.detail ?? {},
      };
      const entry: AuditEntry = { ...base, prevHash: head.hash, hash: entryHash(head.hash, base) };
      this.insert.run({ ...entry, detail: JSON.stringify(entry.detail) });
      return entry;
    })();
    this.seen = { seq: entry.seq, hash: entry.hash };
    writeFileSync(this.headFile, `${entry.seq} ${entry.hash}\n`, { mode: 0o600 });
    this.log.info(
      {
        audit: {
          seq: entry.seq,
          action: entry.action,
          actor: entry.actor,
          outcome: entry.outcome,
          head: entry.hash,
        },
      },
      'audit',
    );
    return entry;
  }

  list(q: {
    before?: number;
    limit: number;
    actor?: string;
    action?: string;
    from?: number;
    to?: number;
  }): AuditEntry[] {
    const rows = this.db
      .prepare(
        // The casts type a parameter PostgreSQL cannot infer from `IS NULL` alone.
        `SELECT * FROM audit WHERE (CAST(@before AS BIGINT) IS NULL OR seq < @before)
           AND (CAST(@actor AS TEXT) IS NULL OR actor = @actor)
           AND (CAST(@action AS TEXT) IS NULL OR action = @action OR action LIKE @actionPrefix)
           AND (CAST(@from AS BIGINT) IS NULL OR ts >= @from) AND (CAST(@to AS BIGINT) IS NULL OR ts < @to)
         ORDER BY seq DESC LIMIT @limit`,
      )
      .all({
        before: q.before ?? null,
        actor: q.actor ?? null,
        action: q.action ?? null,
        actionPrefix: q.action ? `${q.action}.%` : null,
        from: q.from ?? null,
        to: q.to ?? null,
        limit: q.limit,
      }) as Row[];
    return rows.map(toEntry);
  }

  verify(): AuditVerification {
    return verifyAuditChain(this.db, this.headFile);
  }
}

/**
 * Checks the whole chain, and the head file against it: the newest entry on one hub (SQLite); on
 * PostgreSQL, where several hubs append to one chain and each writes its own head file, the entry
 * the file names must be in the chain, unchanged (entries cut off below it are caught).
 */
export function verifyAuditChain(db: SqlDatabase, headFile: string): AuditVerification {
  const shared = db.dialect === 'postgres';
  const hashes = new Map<number, string>();
  let prev = GENESIS;
  let expectedSeq = 1;
  let entries = 0;
  for (const row of db.prepare('SELECT * FROM audit ORDER BY seq').iterate() as Iterable<Row>) {
    const e = toEntry(row);
    if (e.seq !== expectedSeq)
      return { ok: false, entries, problem: { seq: expectedSeq, reason: `entry ${expectedSeq} is missing` } };
    if (e.prevHash !== prev)
      return { ok: false, entries, problem: { seq: e.seq, reason: 'does not follow the previous entry' } };
    const { hash: _h, prevHash: _p, ...fields } = e;
    if (entryHash(prev, fields) !== e.hash)
      return { ok: false, entries, problem: { seq: e.seq, reason: 'its content does not match its hash' } };
    prev = e.hash;
    if (shared) hashes.set(e.seq, e.hash);
    expectedSeq += 1;
    entries += 1;
  }
  let head: string[] = [];
  try {
    head = readFileSync(headFile, 'utf8').trim().split(' ');
  } catch {
    if (entries > 0)
      return { ok: false, entries, problem: { seq: entries, reason: 'the head file is missing' } };
  }
  const headOk = shared
    ? hashes.get(Number(head[0])) === head[1]
    : Number(head[0]) === entries && head[1] === prev;
  if (head.length === 2 && !headOk)
    return {
      ok: false,
      entries,
      problem: {
        seq: Number(head[0]),
        reason: `the head names entry ${head[0]}; the log ends at ${entries}`,
      },
    };
  return { ok: true, entries };
}

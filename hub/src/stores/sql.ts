/**
 * The one seam between the hub's services and their state database: prepare/run/get/all/iterate,
 * exec, transaction, lock — the shape of better-sqlite3, which the services were written against, so
 * the same service code and the same transactions run on SQLite (one hub) and on PostgreSQL (several
 * hubs sharing state).
 *
 * PostgreSQL is reached synchronously through libpq (`pg-native`'s `querySync`): every call blocks
 * the event loop for one round trip (about 80 µs on loopback, measured in tests/state-contract and
 * the cluster bench), bounded by `statement_timeout` and `connect_timeout`. The alternative, an async
 * rewrite of every service, would have turned each transaction into interleavable awaits. The
 * decision and its figures are in docs/architecture.md ("State on PostgreSQL").
 *
 * SQL is written once for both: `?` and `@name` placeholders (translated to `$n` for PostgreSQL),
 * `ON CONFLICT … DO NOTHING/UPDATE`, `RETURNING id` instead of `lastInsertRowid`, no scalar
 * `max(a, b)`. Integers come back as JS numbers from both (PostgreSQL's int8 and numeric parsed).
 */
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';

export type SqlDialect = 'sqlite' | 'postgres';

export interface RunResult {
  changes: number;
  /** SQLite only; PostgreSQL code uses `INSERT … RETURNING id` with `get()`. */
  lastInsertRowid: number | bigint;
}

type Params<P> = P extends unknown[] ? P : [P];

export interface SqlStatement<P extends unknown[] | object = unknown[], R = unknown> {
  run(...params: Params<P>): RunResult;
  get(...params: Params<P>): R | undefined;
  all(...params: Params<P>): R[];
  iterate(...params: Params<P>): IterableIterator<R>;
}

export interface SqlDatabase {
  readonly dialect: SqlDialect;
  prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): SqlStatement<P, R>;
  exec(sql: string): void;
  /** Wraps `fn` in a transaction (nested calls become savepoints), like better-sqlite3's. */
  transaction<F extends (...args: never[]) => unknown>(fn: F): F;
  /**
   * Serializes, across every hub sharing the database, the writers of one named resource until the
   * current transaction ends (PostgreSQL: a transaction-scoped advisory lock; SQLite: one process
   * and one writer already, nothing to do). Call inside `transaction`.
   */
  lock(name: string): void;
  close(): void;
}

/** better-sqlite3 as a SqlDatabase: its statements already have the shape. */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;

  constructor(readonly raw: Database.Database) {}

  prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): SqlStatement<P, R> {
    return this.raw.prepare(sql) as unknown as SqlStatement<P, R>;
  }

  exec(sql: string): void {
    this.raw.exec(sql);
  }

  transaction<F extends (...args: never[]) => unknown>(fn: F): F {
    return this.raw.transaction(fn as never) as unknown as F;
  }

  lock(_name: string): void {}

  close(): void {
    this.raw.close();
  }
}

/**
 * Turns `?` and `@name` placeholders into `$n`, outside string literals, quoted identifiers and
 * comments. The same name always gets the same number (PostgreSQL then infers one type for it).
 */
export function translatePlaceholders(sql: string): { text: string; params: Array<number | string> } {
  const params: Array<number | string> = [];
  const named = new Map<string, number>();
  let positional = 0;
  let out = '';
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end < 0 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop - 1;
    } else if (c === '?') {
      params.push(positional++);
      out += `$${params.length}`;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1)) as RegExpExecArray;
      const name = m[0];
      let n = named.get(name);
      if (n === undefined) {
        params.push(name);
        n = params.length;
        named.set(name, n);
      }
      out += `$${n}`;
      i += name.length;
    } else out += c;
  }
  return { text: out, params };
}

/** libpq's text encoding of a bound JS value (better-sqlite3 accepts these same types). */
function encode(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint' || typeof value === 'number') return String(value);
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (typeof value === 'string') return value;
  throw new TypeError(`cannot bind a ${typeof value} to SQL`);
}

interface PgNativeClient {
  connectSync(conninfo: string): void;
  querySync(text: string, values?: Array<string | null>): Array<Record<string, unknown>>;
  end(cb?: () => void): void;
  /** transactionStatus: 0 idle, 1 active, 2 in a transaction, 3 failed transaction, 4 connection bad. */
  pq: { cmdTuples(): string; transactionStatus(): number };
}

type PgNativeCtor = new (options: {
  types: { getTypeParser(oid: number, format?: string): (v: string) => unknown };
}) => PgNativeClient;

/** int2/int4/int8/numeric/float as numbers; bool as 0/1 (SQLite's); everything else as text. */
const PARSERS: Record<number, (v: string) => unknown> = {
  16: (v) => (v === 't' ? 1 : 0),
  20: Number,
  21: Number,
  23: Number,
  700: Number,
  701: Number,
  1700: Number,
};
/**
 * Finished clients are kept referenced: libpq's addon closes its libuv poll handle in `finish()` and
 * again when the finished object is garbage-collected, which aborts the process
 * (`uv__finish_close: Assertion … UV_HANDLE_CLOSED`, reproduced with --expose-gc). A connection is
 * finished only at close or after it broke, so this holds a few small objects per process lifetime.
 */
const finished: PgNativeClient[] = [];
function finish(client: PgNativeClient): void {
  finished.push(client);
  try {
    client.end();
  } catch {
    /* already gone */
  }
}

const TYPES = { getTypeParser: (oid: number) => PARSERS[oid] ?? ((v: string) => v) };

export interface PostgresOptions {
  /** A libpq connection string (`postgresql://user@host:port/db`); its password from a secret file. */
  url: string;
  password?: string;
  /** Bounds every statement: the event loop is never blocked longer than this by one query. */
  statementTimeoutMs: number;
  connectTimeoutS: number;
  /** `application_name`, so an operator can tell the hubs' connections apart in pg_stat_activity. */
  applicationName: string;
}

class PgStatement<P extends unknown[] | object, R> implements SqlStatement<P, R> {
  private readonly text: string;
  private readonly params: Array<number | string>;

  constructor(
    private readonly db: PostgresDatabase,
    sql: string,
  ) {
    const t = translatePlaceholders(sql);
    this.text = t.text;
    this.params = t.params;
  }

  private values(args: unknown[]): Array<string | null> {
    const first = args[0];
    const byName =
      args.length === 1 && first !== null && typeof first === 'object' && !Buffer.isBuffer(first)
        ? (first as Record<string, unknown>)
        : undefined;
    return this.params.map((p) => encode(typeof p === 'number' ? args[p] : byName?.[p]));
  }

  run(...args: Params<P>): RunResult {
    const rows = this.db.query(this.text, this.values(args));
    return { changes: this.db.lastChanges(rows), lastInsertRowid: Number.NaN };
  }

  get(...args: Params<P>): R | undefined {
    return this.db.query(this.text, this.values(args))[0] as R | undefined;
  }

  all(...args: Params<P>): R[] {
    return this.db.query(this.text, this.values(args)) as R[];
  }

  iterate(...args: Params<P>): IterableIterator<R> {
    return this.all(...args)[Symbol.iterator]();
  }
}

/**
 * PostgreSQL through libpq, synchronously. One connection per hub; a lost connection is reopened on
 * the next statement (the failed statement throws, as a SQLite I/O error would). Session-level
 * advisory locks (leases) live on a second connection, see `LeaseConnection` in cluster/leases.ts.
 */
export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  private client: PgNativeClient | undefined;
  private depth = 0;
  private readonly statements = new Map<string, PgStatement<never, unknown>>();

  constructor(private readonly options: PostgresOptions) {
    this.connect();
  }

  /** The libpq connection string with the bounds applied (and the password, never logged). */
  static conninfo(o: PostgresOptions): string {
    const url = new URL(o.url);
    if (o.password !== undefined) url.password = encodeURIComponent(o.password);
    const params = {
      connect_timeout: String(o.connectTimeoutS),
      application_name: o.applicationName,
      options: `-c statement_timeout=${o.statementTimeoutMs}`,
    };
    for (const key of Object.keys(params)) url.searchParams.delete(key);
    // libpq decodes %20, not URLSearchParams' '+'.
    const extra = Object.entries(params).map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
    return `${url.toString()}${url.search ? '&' : '?'}${extra.join('&')}`;
  }

  private connect(): PgNativeClient {
    const require = createRequire(import.meta.url);
    const Client = require('pg-native') as PgNativeCtor;
    const client = new Client({ types: TYPES });
    client.connectSync(PostgresDatabase.conninfo(this.options));
    this.client = client;
    return client;
  }

  /** One round trip; reconnects first when the previous one lost the connection. */
  /** `values` undefined: a simple query, which may hold several statements (migrations). */
  query(text: string, values?: Array<string | null>): Array<Record<string, unknown>> {
    const client = this.client ?? this.connect();
    try {
      return client.querySync(text, values);
    } catch (err) {
      // Outside a transaction a broken connection is simply replaced on the next call; inside one
      // the transaction is lost anyway, and `transaction` rolls back (or finds the connection gone).
      if (client.pq.transactionStatus() === 4) {
        this.client = undefined;
        this.depth = 0;
        finish(client);
      }
      throw err;
    }
  }

  lastChanges(_rows: unknown[]): number {
    const n = Number(this.client?.pq.cmdTuples() ?? 0);
    return Number.isFinite(n) ? n : 0;
  }

  prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): SqlStatement<P, R> {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = new PgStatement<never, unknown>(this, sql);
      // Services build some statements per call (variable IN lists): keep the cache bounded.
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, stmt);
    }
    return stmt as unknown as SqlStatement<P, R>;
  }

  exec(sql: string): void {
    this.query(sql);
  }

  transaction<F extends (...args: never[]) => unknown>(fn: F): F {
    const run = (...args: never[]) => {
      const savepoint = this.depth > 0 ? `sp${this.depth}` : undefined;
      this.exec(savepoint ? `SAVEPOINT ${savepoint}` : 'BEGIN');
      this.depth += 1;
      try {
        const result = fn(...args);
        this.depth -= 1;
        this.exec(savepoint ? `RELEASE SAVEPOINT ${savepoint}` : 'COMMIT');
        return result;
      } catch (err) {
        this.depth = Math.max(0, this.depth - 1);
        try {
          if (this.client) this.exec(savepoint ? `ROLLBACK TO SAVEPOINT ${savepoint}` : 'ROLLBACK');
        } catch {
          /* the connection is gone: so is the transaction */
        }
        throw err;
      }
    };
    return run as unknown as F;
  }

  lock(name: string): void {
    this.query('SELECT pg_advisory_xact_lock(hashtext($1))', [name]);
  }

  close(): void {
    if (this.client) finish(this.client);
    this.client = undefined;
  }
}

/** Opens the state database the config names. */
export function openSqlite(path: string): SqliteDatabase {
  return new SqliteDatabase(new Database(path));
}

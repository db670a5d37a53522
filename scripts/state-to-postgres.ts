/**
 * `npm run state:to-postgres -- --data-dir DIR --postgres URL`: moves a single hub's SQLite state
 * (DIR/state.db) into an empty PostgreSQL database, for a deployment growing into a cluster.
 *
 * Stop the hub first. The PostgreSQL schema is created at the current version, every table of the
 * state store is copied row by row in one transaction (ids kept, so alarm, incident and audit
 * numbers do not change), and the identity sequences are moved past the copied ids. A database that
 * already holds state is refused. Afterwards `npm run audit:verify -- --data-dir DIR --postgres URL`
 * checks the audit chain where it now lives. The password comes from QLY_PG_PASSWORD_FILE.
 * Prints what it copied; exits 1 on any error (nothing is committed then).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { PostgresDatabase, SqliteDatabase } from '../hub/src/stores/sql.ts';
import { MIGRATIONS, StateDb } from '../hub/src/stores/state-db.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

/** Tables of the state store, parents before children; identity columns to move past. */
const TABLES: Array<{ name: string; identity?: string }> = [
  { name: 'users' },
  { name: 'sessions' },
  { name: 'gateways' },
  { name: 'devices' },
  { name: 'commands' },
  { name: 'audit' },
  { name: 'alarms', identity: 'id' },
  { name: 'alarm_events' },
  { name: 'ingest_claims' },
  { name: 'clips' },
  { name: 'broadcasts' },
  { name: 'sites' },
  { name: 'incidents', identity: 'id' },
  { name: 'incident_events', identity: 'id' },
  { name: 'calls' },
  { name: 'settings' },
  { name: 'alarm_timeline', identity: 'id' },
  { name: 'health_events', identity: 'id' },
  { name: 'reading_rules', identity: 'id' },
  { name: 'notify_subscriptions', identity: 'id' },
  { name: 'notify_deliveries', identity: 'id' },
  { name: 'enrolment_codes' },
  { name: 'gateway_configs' },
  { name: 'gateway_config_reports' },
];

function main(): number {
  const dataDir = resolve(arg('--data-dir') ?? process.env.DATA_DIR ?? 'data');
  const url = arg('--postgres') ?? process.env.QLY_PG_URL;
  if (!url) {
    process.stderr.write('usage: state-to-postgres --data-dir DIR --postgres postgresql://user@host/db\n');
    return 1;
  }
  const raw = new Database(join(dataDir, 'state.db'), { readonly: true, fileMustExist: true });
  const version = raw.pragma('user_version', { simple: true }) as number;
  if (version !== MIGRATIONS.length) {
    process.stderr.write(
      `state.db is at schema ${version}, this version of the hub expects ${MIGRATIONS.length}: start the hub once on SQLite to migrate it, stop it, then move it\n`,
    );
    return 1;
  }
  const source = new SqliteDatabase(raw);
  const passwordFile = process.env.QLY_PG_PASSWORD_FILE;
  const target = new PostgresDatabase({
    url,
    ...(passwordFile ? { password: readFileSync(passwordFile, 'utf8').trim() } : {}),
    statementTimeoutMs: 600_000,
    connectTimeoutS: 10,
    applicationName: 'qly-state-to-postgres',
  });
  new StateDb(target); // the schema, at the current version
  const copied: Record<string, number> = {};
  target.transaction(() => {
    target.lock('qly:migrate');
    for (const { name } of TABLES) {
      const present = target.prepare<[], { n: number }>(`SELECT count(*) AS n FROM ${name}`).get()?.n ?? 0;
      if (present > 0)
        throw new Error(`PostgreSQL already holds ${present} rows in ${name}: refusing to mix states`);
    }
    for (const { name, identity } of TABLES) {
      let n = 0;
      let insert: ReturnType<typeof target.prepare> | undefined;
      let columns: string[] = [];
      for (const row of source.prepare<[], Record<string, unknown>>(`SELECT * FROM ${name}`).iterate()) {
        if (!insert) {
          columns = Object.keys(row);
          insert = target.prepare(
            `INSERT INTO ${name} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
          );
        }
        insert.run(...columns.map((c) => row[c]));
        n += 1;
      }
      if (identity && n > 0)
        target
          .prepare(
            `SELECT setval(pg_get_serial_sequence('${name}', '${identity}'), (SELECT max(${identity}) FROM ${name}))`,
          )
          .get();
      copied[name] = n;
    }
  })();
  raw.close();
  target.close();
  process.stdout.write(
    `moved ${dataDir}/state.db to PostgreSQL: ${Object.entries(copied)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ')}\n`,
  );
  return 0;
}

try {
  process.exitCode = main();
} catch (err) {
  process.stderr.write(`state-to-postgres failed, nothing was committed: ${(err as Error).message}\n`);
  process.exitCode = 1;
}

/**
 * `npm run audit:verify -- --data-dir DIR [--postgres URL]`: checks the hub's audit log (hash chain,
 * contiguous sequence, head file) without starting the hub: in DIR's SQLite state database, or in
 * PostgreSQL (a cluster's shared chain, e.g. after a restore; the password from QLY_PG_PASSWORD_FILE),
 * against DIR's head file. Prints the result; exits 1 when it does not verify.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { verifyAuditChain } from '../hub/src/services/audit-log.ts';
import { PostgresDatabase, type SqlDatabase, SqliteDatabase } from '../hub/src/stores/sql.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const dataDir = resolve(arg('--data-dir') ?? process.env.DATA_DIR ?? 'data');
const pgUrl = arg('--postgres');
const passwordFile = process.env.QLY_PG_PASSWORD_FILE;
const db: SqlDatabase = pgUrl
  ? new PostgresDatabase({
      url: pgUrl,
      ...(passwordFile ? { password: readFileSync(passwordFile, 'utf8').trim() } : {}),
      statementTimeoutMs: 600_000,
      connectTimeoutS: 10,
      applicationName: 'qly-audit-verify',
    })
  : new SqliteDatabase(new Database(join(dataDir, 'state.db'), { readonly: true, fileMustExist: true }));
const result = verifyAuditChain(db, join(dataDir, 'audit-head'));
db.close();
if (result.ok) process.stdout.write(`audit log verified: ${result.entries} entries, chain and head intact\n`);
else
  process.stdout.write(
    `audit log does NOT verify: entry ${result.problem?.seq}: ${result.problem?.reason} (${result.entries} entries verified before it)\n`,
  );
process.exit(result.ok ? 0 : 1);

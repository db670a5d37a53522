/**
 * `npm run audit:verify -- --data-dir DIR`: checks the hub's audit log (hash chain, contiguous
 * sequence, head file) without starting the hub. Prints the result; exits 1 when it does not verify.
 */
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { verifyAuditChain } from '../hub/src/services/audit-log.ts';

const i = process.argv.indexOf('--data-dir');
const dataDir = resolve(i >= 0 ? (process.argv[i + 1] ?? 'data') : (process.env.DATA_DIR ?? 'data'));
const db = new Database(join(dataDir, 'state.db'), { readonly: true, fileMustExist: true });
const result = verifyAuditChain(db, join(dataDir, 'audit-head'));
db.close();
if (result.ok) process.stdout.write(`audit log verified: ${result.entries} entries, chain and head intact\n`);
else
  process.stdout.write(
    `audit log does NOT verify: entry ${result.problem?.seq}: ${result.problem?.reason} (${result.entries} entries verified before it)\n`,
  );
process.exit(result.ok ? 0 : 1);

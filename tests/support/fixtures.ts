/**
 * Recorded device data lives in ../shared/fixtures (written by others; never copied here). CI always
 * has it; a clone without ../shared skips those tests with a printed notice.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inCI } from './system.ts';

export const FIXTURES = resolve(fileURLToPath(new URL('../../../shared/fixtures', import.meta.url)));

export function fixturesAvailable(folder: string): boolean {
  const path = join(FIXTURES, folder);
  if (existsSync(path)) return true;
  if (inCI) throw new Error(`recorded fixtures missing at ${path}: CI must have ../shared`);
  process.stdout.write(
    `\n[SKIPPED] ${path} not found (no ../shared beside this clone); fixture replay tests are skipped.\n`,
  );
  return false;
}

/**
 * Access to the system packages the tests drive (mosquitto, chromium). In CI a missing package is a
 * failure; on a developer's machine the test is skipped with a printed notice saying what to install.
 */
import { existsSync } from 'node:fs';

export const inCI = Boolean(process.env.CI);

export function systemBinary(path: string, debianPackage: string): boolean {
  if (existsSync(path)) return true;
  const message = `${path} not found: install it with \`apt-get install -y --no-install-recommends ${debianPackage}\``;
  if (inCI) throw new Error(`${message} (CI requires it; .ci/run installs it)`);
  process.stdout.write(`\n[SKIPPED] ${message}. Tests that need it are skipped on this machine.\n`);
  return false;
}

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Keeps gateway credentials in Mosquitto's password file when the hub runs against Mosquitto, so
 * onboarding, rotating and deleting a gateway work the same on both brokers. Mosquitto 2 reads
 * `user:$7$iterations$salt$hash` lines (PBKDF2-SHA512) and, on SIGHUP, reloads the file and
 * disconnects every session whose credential is no longer valid.
 *
 * The file is rewritten in place (not replaced), so it keeps the owner and mode Mosquitto needs.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { FastifyBaseLogger } from 'fastify';

/** PBKDF2 iterations: the secrets are random, so this only needs to be Mosquitto-compatible. */
const ITERATIONS = 1000;

export function mosquittoHash(password: string): string {
  const salt = randomBytes(12);
  const hash = pbkdf2Sync(password, salt, ITERATIONS, 64, 'sha512');
  return `$7$${ITERATIONS}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export class MosquittoPasswords {
  constructor(
    private readonly passwordFile: string,
    private readonly pidFile: string | undefined,
    private readonly log: FastifyBaseLogger,
  ) {}

  set(username: string, password: string): void {
    this.rewrite((users) => users.set(username, mosquittoHash(password)));
  }

  /**
   * Adds users that are missing, with `password`; present ones are left alone (rewriting a hash would
   * end that user's sessions: another hub's connections). Reloads only when something was added.
   */
  ensure(usernames: string[], password: string): string[] {
    const added: string[] = [];
    this.rewrite(
      (users) => {
        for (const u of usernames)
          if (!users.has(u)) {
            users.set(u, mosquittoHash(password));
            added.push(u);
          }
      },
      () => added.length > 0,
    );
    return added;
  }

  remove(username: string): void {
    this.rewrite((users) => users.delete(username));
  }

  private rewrite(change: (users: Map<string, string>) => void, changed: () => boolean = () => true): void {
    let text = '';
    try {
      text = readFileSync(this.passwordFile, 'utf8');
    } catch {
      /* a new file */
    }
    const users = new Map<string, string>();
    for (const line of text.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) users.set(line.slice(0, i), line.slice(i + 1));
    }
    change(users);
    if (!changed()) return;
    writeFileSync(this.passwordFile, [...users].map(([u, h]) => `${u}:${h}\n`).join(''), { mode: 0o600 });
    this.reload();
  }

  /** SIGHUP: Mosquitto reloads the file and ends sessions whose credential changed. */
  private reload(): void {
    if (!this.pidFile) return;
    try {
      const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGHUP');
    } catch (err) {
      this.log.error(
        { err, pidFile: this.pidFile },
        'could not signal Mosquitto to reload its password file',
      );
    }
  }
}

/**
 * A real Mosquitto broker for tests: its own config, password file, ACL and data dir on a free
 * loopback port, with persistence so sessions survive a stop/start. Stopped by PID.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MOSQUITTO, MOSQUITTO_PASSWD } from './system.ts';
import { freePort, waitFor } from './wait.ts';

export class MosquittoBroker {
  readonly dir = mkdtempSync(join(tmpdir(), 'qly-mosquitto-'));
  private proc: ChildProcess | undefined;
  port = 0;
  /** Extra ACL lines (e.g. a read-all user for a benchmark baseline). */
  extraAcl: string[] = [];

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Adds (or replaces) a user in the password file. Call before start, or restart after. */
  addUser(username: string, password: string): void {
    const file = join(this.dir, 'passwd');
    writeFileSync(file, '', { flag: 'a' }); // mosquitto_passwd -b needs the file to exist
    execFileSync(MOSQUITTO_PASSWD, ['-b', file, username, password]);
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    const passwd = join(this.dir, 'passwd');
    writeFileSync(join(this.dir, 'passwd'), '', { flag: 'a' });
    const acl = join(this.dir, 'acl');
    writeFileSync(
      acl,
      [
        'user qly-hub',
        'topic readwrite qly/v1/#',
        '',
        '# a gateway (username = gateway id) publishes only under its own id and reads its commands',
        'pattern write qly/v1/+/%u/#',
        'pattern read qly/v1/+/%u/cmd',
        '',
        ...this.extraAcl,
        '',
      ].join('\n'),
    );
    mkdirSync(join(this.dir, 'data'), { recursive: true });
    writeFileSync(
      join(this.dir, 'mosquitto.conf'),
      [
        `listener ${this.port} 127.0.0.1`,
        'allow_anonymous false',
        `password_file ${passwd}`,
        `acl_file ${acl}`,
        'persistence true',
        `persistence_location ${join(this.dir, 'data')}/`,
        'autosave_interval 1',
        'max_queued_messages 0',
        'max_inflight_messages 0',
        `log_dest file ${join(this.dir, 'mosquitto.log')}`,
        'log_type error',
        'log_type warning',
        '',
      ].join('\n'),
    );
    // Mosquitto drops root privileges to the `mosquitto` user: it must own its files.
    try {
      execFileSync('chown', ['-R', 'mosquitto:mosquitto', this.dir]);
      chmodSync(this.dir, 0o755);
      chmodSync(passwd, 0o600);
      chmodSync(acl, 0o600);
    } catch {
      /* not root (a developer machine): mosquitto runs as the current user */
    }
    this.proc = spawn(MOSQUITTO, ['-c', join(this.dir, 'mosquitto.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // A test that times out before its cleanup must not leave the broker behind.
    const child = this.proc;
    process.once('exit', () => child.kill('SIGKILL'));
    let stderr = '';
    this.proc.stderr?.on('data', (d) => {
      stderr += d;
    });
    const proc = this.proc;
    await waitFor(`mosquitto on port ${this.port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`mosquitto exited ${proc.exitCode}: ${stderr}`);
      return canConnect(this.port);
    });
  }

  /** Stops the broker by PID (SIGTERM: it saves its persistence file) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    await exited;
    this.proc = undefined;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

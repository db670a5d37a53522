/**
 * A real Mosquitto for tests, running the configuration the project ships
 * (`deploy/mosquitto/mosquitto.conf` and `deploy/mosquitto/acl`): only the listener address, the
 * file paths (password file, ACL, persistence, PID file) and logging are substituted, so a test
 * proves the limits and ACL an operator deploys. A test that needs another value for a shipped
 * setting says so through `overrides` (named in the test). Stopped by PID.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MOSQUITTO, MOSQUITTO_PASSWD } from './system.ts';
import { freePort, waitFor } from './wait.ts';

const DEPLOY = resolve(fileURLToPath(new URL('../../deploy/mosquitto', import.meta.url)));

/** Settings the harness owns; everything else comes from the shipped file. */
const SUBSTITUTED = new Set(['listener', 'password_file', 'acl_file', 'persistence_location', 'pid_file']);

export interface MosquittoOptions {
  /** Shipped settings replaced for one test, e.g. `{ max_queued_messages: '50' }`. */
  overrides?: Record<string, string>;
  /** A TLS listener too, with these PEM files. */
  tls?: { certFile: string; keyFile: string };
  /** Serve plaintext MQTT (default true); false leaves only the TLS listener. */
  plaintext?: boolean;
  /** ACL lines appended to the shipped ACL (e.g. a read-only probe user). */
  extraAcl?: string[];
}

export class MosquittoBroker {
  readonly dir = mkdtempSync(join(tmpdir(), 'qly-mosquitto-'));
  readonly passwordFile = join(this.dir, 'passwd');
  readonly pidFile = join(this.dir, 'data', 'mosquitto.pid');
  private proc: ChildProcess | undefined;
  port = 0;
  tlsPort = 0;
  /** Extra ACL lines (e.g. a read-all user for a benchmark baseline). */
  extraAcl: string[] = [];

  constructor(private readonly options: MosquittoOptions = {}) {
    this.extraAcl = [...(options.extraAcl ?? [])];
    writeFileSync(this.passwordFile, '');
    mkdirSync(join(this.dir, 'data'), { recursive: true });
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  get tlsUrl(): string {
    return `mqtts://127.0.0.1:${this.tlsPort}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** Adds (or replaces) a user in the password file. Call before start, or `reload()` after. */
  addUser(username: string, password: string): void {
    execFileSync(MOSQUITTO_PASSWD, ['-b', this.passwordFile, username, password]);
  }

  /** The shipped configuration with this test's addresses and paths. */
  configText(): string {
    const shipped = readFileSync(join(DEPLOY, 'mosquitto.conf'), 'utf8').split('\n');
    const overrides = this.options.overrides ?? {};
    const kept = shipped.filter((line) => {
      const key = line.trim().split(/\s+/)[0] ?? '';
      return (
        !line.trim().startsWith('#') && line.trim() !== '' && !SUBSTITUTED.has(key) && !(key in overrides)
      );
    });
    const lines: string[] = [];
    if (this.options.plaintext !== false) lines.push(`listener ${this.port} 127.0.0.1`);
    if (this.options.tls)
      lines.push(
        `listener ${this.tlsPort} 127.0.0.1`,
        `certfile ${join(this.dir, 'broker.crt')}`,
        `keyfile ${join(this.dir, 'broker.key')}`,
      );
    lines.push(
      ...kept,
      ...Object.entries(overrides).map(([k, v]) => `${k} ${v}`),
      `password_file ${this.passwordFile}`,
      `acl_file ${join(this.dir, 'acl')}`,
      `persistence_location ${join(this.dir, 'data')}/`,
      `pid_file ${this.pidFile}`,
      `log_dest file ${join(this.dir, 'mosquitto.log')}`,
      'log_type error',
      'log_type warning',
      'log_type notice',
      '',
    );
    return lines.join('\n');
  }

  async start(): Promise<void> {
    if (!this.port) this.port = await freePort();
    if (this.options.tls && !this.tlsPort) this.tlsPort = await freePort();
    const acl = join(this.dir, 'acl');
    writeFileSync(acl, `${readFileSync(join(DEPLOY, 'acl'), 'utf8')}\n${this.extraAcl.join('\n')}\n`);
    writeFileSync(join(this.dir, 'mosquitto.conf'), this.configText());
    // Copied into the broker's own directory, which is handed to the `mosquitto` user below.
    if (this.options.tls) {
      copyFileSync(this.options.tls.certFile, join(this.dir, 'broker.crt'));
      copyFileSync(this.options.tls.keyFile, join(this.dir, 'broker.key'));
    }
    // Mosquitto drops root privileges to the `mosquitto` user: it must own its files.
    try {
      execFileSync('chown', ['-R', 'mosquitto:mosquitto', this.dir]);
      chmodSync(this.dir, 0o755);
      chmodSync(this.passwordFile, 0o600);
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
    const port = this.options.plaintext === false ? this.tlsPort : this.port;
    await waitFor(`mosquitto on port ${port}`, async () => {
      if (proc.exitCode !== null)
        throw new Error(`mosquitto exited ${proc.exitCode}: ${stderr}${this.log()}`);
      return canConnect(port);
    });
  }

  /** Reloads the password file and ACL (SIGHUP); sessions whose credential changed are disconnected. */
  reload(): void {
    this.proc?.kill('SIGHUP');
  }

  /** What the broker logged (errors, warnings, notices). */
  log(): string {
    try {
      return readFileSync(join(this.dir, 'mosquitto.log'), 'utf8');
    } catch {
      return '';
    }
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

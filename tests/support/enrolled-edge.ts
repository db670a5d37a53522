/**
 * A real edge agent process that knows only the hub URL and an enrolment code (issue 22): no config
 * file, no password. It enrols through `QLY_ENROLL_URL` / `QLY_ENROLL_CODE` on its first start,
 * keeps its identity in its own secret file, and restarts from that file afterwards. `enroll()` runs
 * the `edge-agent enroll` command itself. The simulated test devices are loaded (`QLY_DEV_ADAPTERS`).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const MAIN = join(ROOT, 'edge-agent/src/main.ts');

export class EnrolledEdge {
  readonly dir = mkdtempSync(join(tmpdir(), 'qly-enrolled-'));
  readonly secretFile = join(this.dir, 'gateway-secret.json');
  readonly hubConfigFile = join(this.dir, 'hub-config.json');
  private proc: ChildProcess | undefined;
  output = '';

  constructor(private readonly env: Record<string, string> = {}) {}

  private baseEnv(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      QLY_SECRET_FILE: this.secretFile,
      QLY_OUTBOX_PATH: join(this.dir, 'outbox.db'),
      QLY_LOG_LEVEL: 'info',
      QLY_DEV_ADAPTERS: '1',
      ...this.env,
    };
  }

  /** Starts the agent; `enrolWith` gives the hub URL and code for a first start. */
  start(enrolWith?: { hubUrl: string; code: string }): void {
    const env = this.baseEnv();
    delete env.QLY_ENROLL_URL;
    delete env.QLY_ENROLL_CODE;
    if (enrolWith) {
      env.QLY_ENROLL_URL = enrolWith.hubUrl;
      env.QLY_ENROLL_CODE = enrolWith.code;
    }
    this.proc = spawn(process.execPath, ['--import', 'tsx', MAIN], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    const child = this.proc;
    process.once('exit', () => child.kill('SIGKILL'));
    child.stdout?.on('data', (d) => {
      this.output += d;
    });
    child.stderr?.on('data', (d) => {
      this.output += d;
    });
  }

  get exitCode(): number | null | undefined {
    return this.proc?.exitCode;
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode ?? null;
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    proc.kill(signal);
    return exited;
  }

  /** `edge-agent enroll <hub URL> <code> [args…]`: its exit code and what it printed. */
  enroll(hubUrl: string, code: string, args: string[] = []): Promise<{ code: number; out: string }> {
    return new Promise((done) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', MAIN, 'enroll', hubUrl, code, ...args],
        { cwd: ROOT, env: this.baseEnv(), timeout: 30_000 },
        (err, stdout, stderr) =>
          done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
      );
    });
  }
}

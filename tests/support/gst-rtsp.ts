/**
 * A real RTSP server for the video tests: GStreamer's gst-rtsp-server (Debian packages
 * gstreamer1.0-rtsp, gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-good and -bad for
 * h264parse) driven by gst-rtsp-server.py with Debian's /usr/bin/python3. It serves /main and /sub
 * with Digest authentication, re-serving the H.264 RTP the camera simulator forwards to it, so the
 * picture (with its timestamp code) is the simulator's. It can be killed and started again on the
 * same port (a camera dying mid-stream and coming back).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { inCI } from './system.ts';
import { freePort } from './wait.ts';

const SCRIPT = fileURLToPath(new URL('./gst-rtsp-server.py', import.meta.url));
const PACKAGES =
  'gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad';

/** Whether GStreamer's RTSP server can run here (a failure in CI, a printed skip elsewhere). */
export function gstRtspAvailable(): boolean {
  const probe = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import Gst, GstRtspServer; Gst.init(None); assert Gst.ElementFactory.find('h264parse')",
    ],
    { stdio: 'ignore' },
  );
  if (probe.status === 0) return true;
  const message = `GStreamer's RTSP server is not installed: apt-get install -y --no-install-recommends ${PACKAGES}`;
  if (inCI) throw new Error(`${message} (CI requires it; .ci/run installs it)`);
  process.stdout.write(`\n[SKIPPED] ${message}. The relay tests against a real RTSP server are skipped.\n`);
  return false;
}

export class GstRtspServer {
  private proc: ChildProcess | undefined;
  port = 0;
  udp = { main: 0, sub: 0 };

  constructor(
    private readonly username: string,
    private readonly password: string,
  ) {}

  url(stream: 'main' | 'sub', withCredentials = true): string {
    const auth = withCredentials ? `${this.username}:${this.password}@` : '';
    return `rtsp://${auth}127.0.0.1:${this.port}/${stream}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    if (!this.port) {
      this.port = await freePort();
      this.udp = { main: await freeEvenUdpPort(), sub: await freeEvenUdpPort() };
    }
    const proc = spawn(
      '/usr/bin/python3',
      [SCRIPT, String(this.port), String(this.udp.main), String(this.udp.sub), this.username, this.password],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    process.once('exit', () => proc.kill('SIGKILL'));
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gst-rtsp-server did not start: ${output}`)), 10_000);
      const onData = (d: Buffer) => {
        output += d.toString();
        if (output.includes('READY')) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`gst-rtsp-server exited (${code}): ${output}`));
      });
    });
  }

  /** Kills the server at once (a camera losing power). */
  async kill(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
  }
}

/** A free UDP port for gst's udpsrc (Linux hands out odd ports for bind(0); any parity works here). */
async function freeEvenUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

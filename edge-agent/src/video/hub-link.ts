/**
 * The gateway's HTTP(S) side channel to the hub for media (protocols/src/video.ts): where to push a
 * stream session and where to upload a snapshot, authenticated by the gateway's own credential,
 * over TLS with the hub's CA when configured.
 */
import { createReadStream, statSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  edgeClipPath,
  edgeRecordingPath,
  edgeSnapshotPath,
  edgeStreamPath,
  edgeTalkPath,
} from '@qianliyan/protocols';
import { DEFAULT_PUSH_POLICY, type PushPolicy, type PushTarget } from './stream-pusher.ts';

export class HubLink {
  readonly authorization: string;

  constructor(
    /** The hub's base URL as the gateway reaches it (http://… or https://…). */
    private readonly baseUrl: string,
    username: string,
    password: string,
    private readonly ca?: string,
    /** How long a push connection may stay silent, and how long reconnects may keep failing. */
    private readonly pushPolicy: PushPolicy = DEFAULT_PUSH_POLICY,
  ) {
    this.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  /**
   * Where to push a session: to `hub` when the hub named one (several hubs: the one streaming the
   * camera), else to the configured hub. A named hub over plain HTTP while the configured one is
   * HTTPS is refused: the push carries this gateway's credential.
   */
  streamTarget(session: string, hub?: string): PushTarget {
    if (hub && new URL(hub).protocol !== 'https:' && new URL(this.baseUrl).protocol === 'https:')
      throw new Error(`refusing to push to ${hub}: not HTTPS like ${this.baseUrl}`);
    const url = new URL(edgeStreamPath(session), hub ?? this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return {
      url: url.toString(),
      authorization: this.authorization,
      ...(this.ca ? { ca: this.ca } : {}),
      policy: this.pushPolicy,
    };
  }

  /** The hub's live-talk session this gateway connects to (outbound) and plays. */
  talkTarget(session: string): PushTarget {
    const url = new URL(edgeTalkPath(session), this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return { url: url.toString(), authorization: this.authorization, ...(this.ca ? { ca: this.ca } : {}) };
  }

  /** Downloads a clip by its content hash (at most `maxBytes`). */
  fetchClip(hash: string, maxBytes: number): Promise<Buffer> {
    const url = new URL(edgeClipPath(hash), this.baseUrl);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          headers: { Authorization: this.authorization },
          timeout: 30_000,
          ...(this.ca ? { ca: this.ca } : {}),
        },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return reject(new Error(`the hub refused the clip (HTTP ${res.statusCode})`));
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > maxBytes) req.destroy(new Error('clip larger than allowed'));
            else chunks.push(c);
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('clip download timed out')));
      req.on('error', reject);
      req.end();
    });
  }

  /** POSTs one JPEG for an upload the hub asked for; rejects with the hub's status on refusal. */
  uploadSnapshot(upload: string, jpeg: Buffer): Promise<void> {
    const url = new URL(edgeSnapshotPath(upload), this.baseUrl);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          headers: {
            Authorization: this.authorization,
            'Content-Type': 'image/jpeg',
            'Content-Length': jpeg.length,
          },
          timeout: 15_000,
          ...(this.ca ? { ca: this.ca } : {}),
        },
        (res) => {
          res.resume();
          if ((res.statusCode ?? 0) < 300) resolve();
          else reject(new Error(`the hub refused the snapshot (HTTP ${res.statusCode})`));
        },
      );
      req.on('timeout', () => req.destroy(new Error('snapshot upload timed out')));
      req.on('error', reject);
      req.end(jpeg);
    });
  }

  /**
   * PUTs a recorded clip (an MP4 file) for an upload the hub asked for, paced to `bytesPerSecond`:
   * a village uplink also carries live video and the telemetry outbox, so a clip never takes all of
   * it. Rejects with the hub's status on refusal.
   */
  uploadRecording(upload: string, file: string, bytesPerSecond: number): Promise<void> {
    const url = new URL(edgeRecordingPath(upload), this.baseUrl);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const size = statSync(file).size;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'PUT',
          headers: { Authorization: this.authorization, 'Content-Type': 'video/mp4', 'Content-Length': size },
          ...(this.ca ? { ca: this.ca } : {}),
        },
        (res) => {
          res.resume();
          if ((res.statusCode ?? 0) < 300) resolve();
          else reject(new Error(`the hub refused the clip (HTTP ${res.statusCode})`));
        },
      );
      req.on('error', reject);
      // No progress for a minute: the uplink is gone (a dropped 4G link gives no RST).
      req.setTimeout(60_000, () => req.destroy(new Error('clip upload stalled')));
      const source = createReadStream(file, { highWaterMark: 16 * 1024 });
      const started = Date.now();
      let sent = 0;
      source.on('error', (err) => req.destroy(err));
      source.on('data', (chunk) => {
        sent += chunk.length;
        const ahead = (sent / bytesPerSecond) * 1000 - (Date.now() - started);
        const full = !req.write(chunk);
        if (ahead > 0 || full) {
          source.pause();
          const resume = () => setTimeout(() => source.resume(), Math.max(0, ahead));
          if (full) req.once('drain', resume);
          else resume();
        }
      });
      source.on('end', () => req.end());
    });
  }
}

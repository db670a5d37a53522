/**
 * The gateway's HTTP(S) side channel to the hub for media (protocols/src/video.ts): where to push a
 * stream session and where to upload a snapshot, authenticated by the gateway's own credential,
 * over TLS with the hub's CA when configured.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { edgeSnapshotPath, edgeStreamPath } from '@qianliyan/protocols';
import type { PushTarget } from './stream-pusher.ts';

export class HubLink {
  readonly authorization: string;

  constructor(
    /** The hub's base URL as the gateway reaches it (http://… or https://…). */
    private readonly baseUrl: string,
    username: string,
    password: string,
    private readonly ca?: string,
  ) {
    this.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  streamTarget(session: string): PushTarget {
    const url = new URL(edgeStreamPath(session), this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return { url: url.toString(), authorization: this.authorization, ...(this.ca ? { ca: this.ca } : {}) };
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
}

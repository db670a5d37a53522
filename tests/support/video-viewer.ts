/**
 * A video viewer as the dashboard is one, without the browser: asks for a stream token, opens the
 * video socket, and records the hub's state messages and the media it receives (fMP4 fragments
 * with keyframes marked, or MPEG-TS packets).
 */
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { Fmp4Reader } from '../../hub/src/video/fmp4.ts';
import type { TestHub } from './hub.ts';

export interface Viewer {
  states: string[];
  reasons: string[];
  mime: string | undefined;
  /** The hub re-encodes the camera's codec for this viewer (the init message says which). */
  transcoded: string | undefined;
  binaries: number;
  bytes: number;
  fragments: number;
  keyframes: number;
  /** SHA-1 of each fMP4 fragment received (two viewers of one stream get the same bytes). */
  digests: string[];
  tsPackets: number;
  firstBinaryMs: number | undefined;
  closeCode: number | undefined;
  socket: WebSocket;
  opened: Promise<void>;
  closed: Promise<number>;
  close(): void;
}

export async function streamToken(hub: TestHub, device: string, stream = 'sub', bearer?: string) {
  const res = await fetch(`${hub.baseUrl}/api/video/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer ?? (await hub.token())}`, 'content-type': 'application/json' },
    body: JSON.stringify({ device, stream }),
  });
  return { status: res.status, body: (await res.json()) as { token: string; path: string; code?: string } };
}

export function openViewerUrl(url: string): Viewer {
  const started = Date.now();
  const socket = new WebSocket(url);
  const v: Viewer = {
    states: [],
    reasons: [],
    mime: undefined,
    transcoded: undefined,
    binaries: 0,
    bytes: 0,
    fragments: 0,
    keyframes: 0,
    digests: [],
    tsPackets: 0,
    firstBinaryMs: undefined,
    closeCode: undefined,
    socket,
    opened: new Promise((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })),
      );
      socket.once('error', reject);
    }),
    closed: new Promise((resolve) => socket.once('close', (code) => resolve(code))),
    close: () => socket.close(),
  };
  v.opened.catch(() => undefined);
  let reader: Fmp4Reader | undefined;
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (!isBinary) {
      const msg = JSON.parse(data.toString()) as {
        type: string;
        state?: string;
        mime?: string;
        reason?: string;
        transcoded?: string;
      };
      if (msg.type === 'state' && msg.state) {
        v.states.push(msg.state);
        if (msg.reason) v.reasons.push(msg.reason);
      }
      if (msg.type === 'init') {
        v.mime = msg.mime;
        v.transcoded = msg.transcoded;
        reader = new Fmp4Reader(
          () => {},
          (f) => {
            v.fragments += 1;
            v.digests.push(createHash('sha1').update(f.data).digest('hex'));
            if (f.keyframe) v.keyframes += 1;
          },
        );
      }
      return;
    }
    v.binaries += 1;
    v.bytes += data.length;
    v.firstBinaryMs ??= Date.now() - started;
    if (reader) reader.push(data);
    else if (data.length % 188 === 0 && data[0] === 0x47) v.tsPackets += data.length / 188;
  });
  socket.on('close', (code) => {
    v.closeCode = code;
  });
  socket.on('error', () => {});
  return v;
}

export async function openViewer(
  hub: TestHub,
  device: string,
  stream = 'sub',
  format: 'mse' | 'jsmpeg' = 'mse',
  /** Say the browser plays H.265 (`&hevc=1`). */
  hevc = false,
): Promise<Viewer> {
  const { body } = await streamToken(hub, device, stream);
  return openViewerUrl(
    `${hub.baseUrl.replace(/^http/, 'ws')}${body.path}?token=${encodeURIComponent(body.token)}&format=${format}&device=${encodeURIComponent(device)}${hevc ? '&hevc=1' : ''}`,
  );
}

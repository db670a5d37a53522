/**
 * A relay's source in a cluster (cluster/video-holders.ts): on each start the hub either takes the
 * stream's lease and streams it itself (the gateway push or the hub's pull, with `stream.start`
 * naming this hub's advertised URL), or relays it from the hub holding the lease (PeerSource).
 *
 * When the holder dies its stream ends here; the relay starts its source again at once, and this
 * time the lease is free (the holder's database connection died with it): this hub takes it and
 * asks the gateway to push here. A viewer on a survivor so gets its picture back after one
 * `stream.start`, and the gateway never pushes one stream twice.
 */
import type { StreamName, VideoServerMessage } from '@qianliyan/protocols';
import WebSocket from 'ws';
import type { VideoHolders } from '../cluster/video-holders.ts';
import type { Relay, RelaySource } from './relay.ts';
import type { StreamTokens } from './stream-tokens.ts';

/** The holder's route other hubs relay a stream from (a WebSocket, a hub relay token). */
export const PEER_VIDEO_PATH = '/api/cluster/video/ws';

export class ClusterSource implements RelaySource {
  private current: RelaySource | undefined;

  constructor(
    private readonly device: string,
    private readonly stream: StreamName,
    private readonly holders: VideoHolders,
    /** The source this hub uses when it holds the stream (push or pull). */
    private readonly local: RelaySource,
    private readonly tokens: StreamTokens,
    private readonly startTimeoutMs: number,
    /** The CA of the hubs' HTTPS certificates (a private CA), if any. */
    private readonly ca?: string,
  ) {}

  get kind(): 'push' | 'pull' | 'peer' {
    return this.current?.kind ?? this.local.kind;
  }

  async start(relay: Relay): Promise<void> {
    await this.current?.stop();
    const claim = this.holders.claim(this.device, this.stream);
    if (claim.mine) {
      this.current = this.local;
      try {
        await this.local.start(relay);
      } catch (err) {
        // Another hub may reach the camera; this one holds nothing it does not stream.
        this.current = undefined;
        this.holders.release(this.device, this.stream);
        throw err;
      }
      return;
    }
    if (!claim.holder) throw new Error('the hub streaming this camera is not known yet');
    const peer = new PeerSource(
      claim.holder.url,
      this.tokens.issue({ sub: `hub:${this.holders.hubId}`, sid: 'peer', dev: this.device, st: this.stream })
        .token,
      this.startTimeoutMs,
      this.ca,
    );
    this.current = peer;
    await peer.start(relay);
  }

  async stop(): Promise<void> {
    const current = this.current;
    this.current = undefined;
    await current?.stop();
    if (current === this.local) this.holders.release(this.device, this.stream);
  }
}

/**
 * The stream as the holder's relay sends it to a viewer that plays everything (MSE, H.265 too): the
 * init segment, then fragments from a keyframe on. A new `init` message starts a new stream (the
 * gateway reconnected to the holder): the relay reads it afresh.
 */
export class PeerSource implements RelaySource {
  readonly kind = 'peer';
  private socket: WebSocket | undefined;

  constructor(
    private readonly holderUrl: string,
    private readonly token: string,
    private readonly startTimeoutMs: number,
    private readonly ca?: string,
  ) {}

  start(relay: Relay): Promise<void> {
    const url = new URL(PEER_VIDEO_PATH, this.holderUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('token', this.token);
    const socket = new WebSocket(url, {
      perMessageDeflate: false,
      handshakeTimeout: this.startTimeoutMs,
      ...(this.ca ? { ca: this.ca } : {}),
    });
    this.socket = socket;
    return new Promise<void>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => {
        if (started) return;
        socket.terminate();
        reject(new Error(`no video from the hub streaming this camera within ${this.startTimeoutMs} ms`));
      }, this.startTimeoutMs);
      socket.on('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        res.resume();
        socket.terminate();
        reject(new Error(`the hub streaming this camera refused the relay (HTTP ${res.statusCode})`));
      });
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (this.socket !== socket) return;
        if (!isBinary) {
          let message: VideoServerMessage | undefined;
          try {
            message = JSON.parse(data.toString()) as VideoServerMessage;
          } catch {
            message = undefined;
          }
          if (message?.type === 'init') relay.sourceEnded('a new stream from the hub streaming it');
          return;
        }
        if (!started) {
          started = true;
          clearTimeout(timer);
          resolve();
        }
        relay.feed(data);
      });
      socket.on('close', (code) => {
        clearTimeout(timer);
        if (!started) return reject(new Error(`the hub streaming this camera closed the relay (${code})`));
        // The holder stopped or died: start again now (the lease may be free for this hub to take).
        if (this.socket === socket) relay.sourceLost(`the hub streaming this camera went away (${code})`);
      });
      socket.on('error', (err) => {
        clearTimeout(timer);
        if (!started) reject(new Error(`the hub streaming this camera is unreachable (${err.message})`));
        socket.terminate();
      });
    });
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    socket?.terminate();
  }
}

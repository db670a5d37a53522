/**
 * A TCP proxy to break a link on demand, the two ways a village's 4G uplink breaks:
 *  - `cut()`: every connection is reset and new ones are refused (the modem drops its session);
 *  - `blackhole()`: nothing is forwarded any more, in either direction, but no connection is
 *    closed (the carrier drops packets: neither end hears a FIN or a RST, and TCP retransmits for
 *    up to ~15 minutes, tcp_retries2, before the kernel gives up).
 * `restore()` ends either.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private down = false;
  private holed = false;
  /** Connections accepted since start (a dialling gateway shows here even while the link is cut). */
  accepted = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      this.accepted += 1;
      if (this.down) return void client.destroy();
      const upstream = createConnection(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      // Forwarded by hand, not piped: pipe() resumes a source on its destination's 'drain', which
      // would reopen a black hole.
      const forward = (from: Socket, to: Socket) => {
        from.on('data', (chunk: Buffer) => {
          if (!to.write(chunk)) from.pause();
        });
        to.on('drain', () => {
          if (!this.holed) from.resume();
        });
        from.on('end', () => to.end());
      };
      forward(client, upstream);
      forward(upstream, client);
      if (this.holed) for (const s of [client, upstream]) s.pause();
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
  }

  /** Drops every connection and refuses new ones until `restore()`. */
  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
  }

  /**
   * Forwards nothing more, in either direction, on open and new connections, until `restore()`:
   * the proxy stops reading, so the senders' kernels buffer and retransmit as over a dead 4G link.
   */
  blackhole(): void {
    this.holed = true;
    for (const s of this.sockets) s.pause();
  }

  restore(): void {
    this.down = false;
    this.holed = false;
    for (const s of this.sockets) s.resume();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

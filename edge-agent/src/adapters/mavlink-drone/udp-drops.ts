/**
 * Datagrams the kernel dropped at a UDP socket because its receive buffer was full: the loss the
 * application never sees (a burst from a log replay or a busy link while the event loop is busy
 * elsewhere). Linux keeps them per socket in the `drops` column of /proc/net/udp; the socket is
 * found there by its local address and port and, when several lines match, by the inode of one of
 * this process's own descriptors. Where that line cannot be found (a kernel without the column, a
 * hidden /proc), the host-wide `RcvbufErrors` of /proc/net/snmp since the socket opened stands in,
 * and says so (`scope: 'host'`). Elsewhere than Linux nothing is read.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface DropReading {
  /** Datagrams dropped since the socket was opened (or since the counter was created, host-wide). */
  drops: number;
  /** `socket`: this socket's own count; `host`: every UDP socket on the host. */
  scope: 'socket' | 'host';
}

/** /proc/net/udp's `local_address` for an IPv4 address and port: `0100007F:3A98`. */
export function procUdpAddress(address: string, port: number): string {
  const octets = address.split('.').map(Number);
  if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o < 0 || o > 255))
    throw new Error(`not an IPv4 address: ${address}`);
  // The kernel prints the address as a host-order (little-endian here) 32-bit number.
  const hex = octets
    .reverse()
    .map((o) => o.toString(16).padStart(2, '0'))
    .join('')
    .toUpperCase();
  return `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`;
}

interface UdpLine {
  local: string;
  inode: string;
  drops: number;
}

/** The socket lines of /proc/net/udp (the header names the columns; `drops` is the last). */
export function parseProcNetUdp(text: string): UdpLine[] {
  const [header, ...lines] = text.split('\n');
  const columns = (header ?? '').trim().split(/\s+/);
  const dropsAt = columns.indexOf('drops');
  const out: UdpLine[] = [];
  if (dropsAt < 0) return out;
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    // Header: sl local_address rem_address st tx_queue rx_queue tr tm->when retrnsmt uid timeout inode ref pointer drops;
    // "tx_queue rx_queue" and "tr tm->when" are one field each in the rows, so rows have 13 fields.
    if (f.length < 13) continue;
    const drops = Number(f[f.length - 1]);
    if (!Number.isFinite(drops)) continue;
    out.push({ local: f[1] as string, inode: f[9] as string, drops });
  }
  return out;
}

/** Host-wide `Udp: RcvbufErrors` from /proc/net/snmp. */
export function parseRcvbufErrors(text: string): number | undefined {
  const rows = text.split('\n').filter((l) => l.startsWith('Udp:'));
  if (rows.length < 2) return undefined;
  const names = (rows[0] as string).trim().split(/\s+/);
  const values = (rows[1] as string).trim().split(/\s+/);
  const i = names.indexOf('RcvbufErrors');
  const v = i < 0 ? Number.NaN : Number(values[i]);
  return Number.isFinite(v) ? v : undefined;
}

export class UdpDropCounter {
  private inode: string | undefined;
  private readonly hostBaseline: number | undefined;

  constructor(
    private readonly address: string,
    private readonly port: number,
    private readonly proc = '/proc',
  ) {
    this.hostBaseline = this.readHost();
  }

  /** The drops now; undefined where the kernel tells nothing. */
  read(): DropReading | undefined {
    const own = this.readSocket();
    if (own !== undefined) return { drops: own, scope: 'socket' };
    const host = this.readHost();
    if (host === undefined || this.hostBaseline === undefined) return undefined;
    return { drops: Math.max(0, host - this.hostBaseline), scope: 'host' };
  }

  private readSocket(): number | undefined {
    let lines: UdpLine[];
    try {
      lines = parseProcNetUdp(readFileSync(`${this.proc}/net/udp`, 'utf8'));
    } catch {
      return undefined;
    }
    if (this.inode) return lines.find((l) => l.inode === this.inode)?.drops;
    let local: string;
    try {
      local = procUdpAddress(this.address, this.port);
    } catch {
      return undefined;
    }
    const candidates = lines.filter((l) => l.local === local);
    if (candidates.length === 0) return undefined;
    const mine =
      candidates.length === 1 ? candidates : candidates.filter((c) => this.ownInodes().has(c.inode));
    if (mine.length !== 1) return undefined;
    this.inode = (mine[0] as UdpLine).inode;
    return (mine[0] as UdpLine).drops;
  }

  private ownInodes(): Set<string> {
    const inodes = new Set<string>();
    try {
      for (const fd of readdirSync(`${this.proc}/self/fd`)) {
        try {
          const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`${this.proc}/self/fd/${fd}`));
          if (m) inodes.add(m[1] as string);
        } catch {
          /* closed meanwhile */
        }
      }
    } catch {
      /* no /proc/self */
    }
    return inodes;
  }

  private readHost(): number | undefined {
    try {
      return parseRcvbufErrors(readFileSync(`${this.proc}/net/snmp`, 'utf8'));
    } catch {
      return undefined;
    }
  }
}

/**
 * Which unicast WS-Discovery targets the hub lets a gateway probe (`camera.discover`'s `targets`).
 *
 * The hostile pass: a duty officer could make a village gateway send probes to any host:port — the
 * gateway as a UDP scanner into whatever it can reach (the uplink's carrier network, the internet,
 * another agency's VPN). Discovery is for cameras on the village LAN, and multicast finds those; a
 * named target is only for a camera that does not answer multicast. So:
 *  - the command room (admins and duty officers) may run multicast discovery (and the targets the
 *    gateway's own config lists, `video.discoveryTargets`);
 *  - only an administrator may name targets (`paramRoles` of `camera.discover` in the command policy,
 *    protocols/src/access.ts, checked by the command service), and each must be an IP literal (a name could resolve
 *    anywhere, through the gateway's resolver) in a private range: RFC 1918, IPv4 link-local, RFC
 *    4193 unique-local, IPv6 link-local, or loopback (the gateway's own host, where a local NVR or
 *    camera simulator listens). Carrier-grade NAT space (100.64/10) is the uplink, not the LAN.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { HubError } from '../errors.ts';

/** Whether an IP literal is in a range a village LAN uses (or the gateway's own loopback). */
export function isPrivateAddress(ip: string): boolean {
  if (isIPv4(ip)) {
    const [a = 0, b = 0] = ip.split('.').map(Number);
    return (
      a === 10 ||
      a === 127 ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      (a === 169 && b === 254)
    );
  }
  if (isIPv6(ip)) {
    const lower = ip.toLowerCase();
    if (lower === '::1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    if (mapped) return isPrivateAddress(mapped[1] as string);
    const first = Number.parseInt(lower.split(':')[0] || '0', 16);
    return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80;
  }
  return false;
}

/** Splits `host:port` (`[v6]:port` for IPv6); undefined when it is neither. */
function splitTarget(target: string): { host: string; port: number } | undefined {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(target) ?? /^([^:[\]]+):(\d{1,5})$/.exec(target);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1] as string, port } : undefined;
}

/** The refusal for `camera.discover` targets outside a village LAN, or undefined when allowed. */
export function checkDiscoveryTargets(params: Record<string, unknown>): HubError | undefined {
  const targets = (params.targets as string[] | undefined) ?? [];
  for (const target of targets) {
    const parsed = splitTarget(target);
    if (!parsed || !(isIPv4(parsed.host) || isIPv6(parsed.host)))
      return new HubError('HUB_ERR_VALIDATION', `discovery target ${target} is not an IP address and port`);
    if (!isPrivateAddress(parsed.host))
      return new HubError(
        'HUB_ERR_VALIDATION',
        `discovery target ${target} is not a private (village LAN) address`,
      );
  }
  return undefined;
}

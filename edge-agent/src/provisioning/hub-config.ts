/**
 * A config version from the hub, made ready to run: its sealed secrets opened with this gateway's
 * key (into memory only), every device checked against its adapter. Any problem refuses the version
 * as a whole; the previous one keeps running. The last applied version is kept on disk as it came
 * (secrets still sealed), so a gateway that restarts without its uplink runs its devices anyway.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { type GatewayConfig, SEALED_SECRET, SECRET_FIELDS, sealedSecretContext } from '@qianliyan/protocols';
import type { AdapterRegistry } from '../adapters/registry.ts';
import { checkDevices, type DeviceConfig } from '../config.ts';
import { type GatewayKeyPair, openSecret } from './sealed-secrets.ts';

const SECRETS = new Set(SECRET_FIELDS);

export type PreparedConfig =
  | { ok: true; devices: Array<{ config: DeviceConfig; fingerprint: string }> }
  | { ok: false; problems: string[] };

/** Opens secrets and checks every device; `taken` are ids the gateway's own file already runs. */
export function prepareConfig(
  config: GatewayConfig,
  gateway: string,
  keys: GatewayKeyPair,
  adapters: AdapterRegistry,
  taken: ReadonlySet<string>,
): PreparedConfig {
  const problems: string[] = [];
  const opened = config.devices.map((device, i) =>
    open(device, (sealed, path) => {
      try {
        return openSecret(keys, sealed, sealedSecretContext(gateway, device.id, path));
      } catch (err) {
        problems.push(`/devices/${i}/${path.replaceAll('.', '/')}: ${(err as Error).message}`);
        return '';
      }
    }),
  );
  const checked = checkDevices(opened, adapters, taken);
  problems.push(...checked.problems);
  if (problems.length > 0) return { ok: false, problems: problems.slice(0, 64).map((p) => p.slice(0, 512)) };
  return {
    ok: true,
    devices: checked.devices.map((device, i) => ({
      config: device,
      // Sealed values are stable while a password is unchanged, so the sealed form tells what changed.
      fingerprint: JSON.stringify(config.devices[i]),
    })),
  };
}

function open(value: unknown, openOne: (sealed: string, path: string) => string, path = ''): unknown {
  if (Array.isArray(value)) return value.map((v, i) => open(v, openOne, `${path}${i}.`));
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => {
      const at = `${path}${k}`;
      const sealed = (v as { sealed?: unknown } | null)?.sealed;
      if (SECRETS.has(k) && typeof sealed === 'string' && sealed.startsWith(SEALED_SECRET.prefix))
        return [k, openOne(sealed, at)];
      return [k, open(v, openOne, `${at}.`)];
    }),
  );
}

export function readAppliedConfig(path: string): GatewayConfig | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8')) as GatewayConfig;
}

/** Whole or not at all, this user only: it holds sealed secrets and the device addresses. */
export function writeAppliedConfig(path: string, config: GatewayConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(config), { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

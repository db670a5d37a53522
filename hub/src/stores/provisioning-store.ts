/**
 * Provisioning state (issue 22) in the state database, on SQLite and PostgreSQL alike: one-time
 * enrolment codes (only their SHA-256: a code is a credential until used), each gateway's X25519
 * public key, its desired devices as numbered versions (secrets only sealed to that key), and the
 * gateway's last report on them. One contract suite covers both (tests/state-contract.test.ts).
 */
import type { ConfigDeviceResult, ProvisionedDevice } from '@qianliyan/protocols';
import type { SqlDatabase } from './sql.ts';

export interface EnrolmentCodeRow {
  codeHash: string;
  gateway: string;
  site: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedFrom: string | null;
}

export interface GatewayConfigRow {
  gateway: string;
  version: number;
  /** Secrets are `{sealed}` values here, never clear. */
  devices: ProvisionedDevice[];
  createdBy: string;
  createdAt: number;
}

export interface ConfigReportRow {
  gateway: string;
  version: number;
  status: 'applied' | 'refused';
  running: number;
  devices: ConfigDeviceResult[];
  problems: string[];
  reportedAt: number;
}

/** Why redeeming a code failed. */
export type RedeemRefusal = 'unknown_code' | 'used_code' | 'expired_code';

export class ProvisioningStore {
  constructor(private readonly db: SqlDatabase) {}

  insertCode(row: Omit<EnrolmentCodeRow, 'usedAt' | 'usedFrom'>): void {
    this.db
      .prepare(
        `INSERT INTO enrolment_codes (code_hash, gateway, site, created_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      )
      .run(row.codeHash, row.gateway, row.site, row.createdBy, row.createdAt, row.expiresAt);
  }

  getCode(codeHash: string): EnrolmentCodeRow | undefined {
    const r = this.db.prepare('SELECT * FROM enrolment_codes WHERE code_hash = ?').get(codeHash) as
      | Record<string, unknown>
      | undefined;
    return r
      ? {
          codeHash: r.code_hash as string,
          gateway: r.gateway as string,
          site: r.site as string,
          createdBy: r.created_by as string,
          createdAt: Number(r.created_at),
          expiresAt: Number(r.expires_at),
          usedAt: r.used_at === null || r.used_at === undefined ? null : Number(r.used_at),
          usedFrom: (r.used_from as string | null) ?? null,
        }
      : undefined;
  }

  /**
   * Marks a code used, once: a single UPDATE guarded by `used_at IS NULL` and the expiry, so two
   * gateways racing with one code (or two hubs) cannot both win. Returns the row, or why not.
   */
  redeem(codeHash: string, now: number, from: string): EnrolmentCodeRow | RedeemRefusal {
    const changed = this.db
      .prepare(
        `UPDATE enrolment_codes SET used_at = ?, used_from = ?
         WHERE code_hash = ? AND used_at IS NULL AND expires_at > ?`,
      )
      .run(now, from.slice(0, 64), codeHash, now).changes;
    const row = this.getCode(codeHash);
    if (!row) return 'unknown_code';
    if (changed === 1) return row;
    return row.usedAt !== null ? 'used_code' : 'expired_code';
  }

  /** Codes not yet used for a gateway are void once a new one is issued or the gateway enrols. */
  voidCodes(gateway: string, now: number): void {
    this.db
      .prepare('UPDATE enrolment_codes SET expires_at = ? WHERE gateway = ? AND used_at IS NULL')
      .run(Math.min(now, Number.MAX_SAFE_INTEGER), gateway);
  }

  setPublicKey(gateway: string, publicKey: string, at: number): void {
    this.db
      .prepare('UPDATE gateways SET public_key = ?, enrolled_at = ? WHERE id = ?')
      .run(publicKey, at, gateway);
  }

  getPublicKey(gateway: string): { publicKey: string; enrolledAt: number } | undefined {
    const r = this.db
      .prepare<[string], { public_key: string | null; enrolled_at: number | null }>(
        'SELECT public_key, enrolled_at FROM gateways WHERE id = ?',
      )
      .get(gateway);
    return r?.public_key ? { publicKey: r.public_key, enrolledAt: Number(r.enrolled_at) } : undefined;
  }

  /** The latest version of a gateway's desired devices. */
  latestConfig(gateway: string): GatewayConfigRow | undefined {
    const r = this.db
      .prepare('SELECT * FROM gateway_configs WHERE gateway = ? ORDER BY version DESC LIMIT 1')
      .get(gateway) as Record<string, unknown> | undefined;
    return r ? toConfig(r) : undefined;
  }

  /**
   * Adds a version when `baseVersion` is still the latest (0: none yet); returns the new version, or
   * undefined when another edit came in between.
   */
  addConfig(
    gateway: string,
    baseVersion: number | undefined,
    devices: ProvisionedDevice[],
    by: string,
    at: number,
  ): number | undefined {
    return this.db.transaction(() => {
      this.db.lock(`qly:gateway-config:${gateway}`);
      const latest = this.latestConfig(gateway)?.version ?? 0;
      if (baseVersion !== undefined && baseVersion !== latest) return undefined;
      const version = latest + 1;
      this.db
        .prepare(
          'INSERT INTO gateway_configs (gateway, version, devices, created_by, created_at) VALUES (?, ?, ?, ?, ?)',
        )
        .run(gateway, version, JSON.stringify(devices), by, at);
      return version;
    })();
  }

  /** The newest `limit` versions of a gateway, newest first. */
  configHistory(gateway: string, limit: number): GatewayConfigRow[] {
    return (
      this.db
        .prepare('SELECT * FROM gateway_configs WHERE gateway = ? ORDER BY version DESC LIMIT ?')
        .all(gateway, limit) as Array<Record<string, unknown>>
    ).map(toConfig);
  }

  /** Every gateway's latest version (the fleet report, republishing after a restart). */
  latestVersions(): Map<string, number> {
    const rows = this.db
      .prepare<[], { gateway: string; version: number }>(
        'SELECT gateway, max(version) AS version FROM gateway_configs GROUP BY gateway',
      )
      .all();
    return new Map(rows.map((r) => [r.gateway, Number(r.version)]));
  }

  saveReport(row: ConfigReportRow): void {
    this.db
      .prepare(
        `INSERT INTO gateway_config_reports (gateway, version, status, running, devices, problems, reported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(gateway) DO UPDATE SET version = excluded.version, status = excluded.status,
           running = excluded.running, devices = excluded.devices, problems = excluded.problems,
           reported_at = excluded.reported_at`,
      )
      .run(
        row.gateway,
        row.version,
        row.status,
        row.running,
        JSON.stringify(row.devices),
        JSON.stringify(row.problems),
        row.reportedAt,
      );
  }

  getReport(gateway: string): ConfigReportRow | undefined {
    const r = this.db.prepare('SELECT * FROM gateway_config_reports WHERE gateway = ?').get(gateway) as
      | Record<string, unknown>
      | undefined;
    return r
      ? {
          gateway: r.gateway as string,
          version: Number(r.version),
          status: r.status as 'applied' | 'refused',
          running: Number(r.running),
          devices: JSON.parse(r.devices as string),
          problems: JSON.parse(r.problems as string),
          reportedAt: Number(r.reported_at),
        }
      : undefined;
  }

  /** A retired gateway leaves no codes, versions or reports behind. */
  forgetGateway(gateway: string): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM enrolment_codes WHERE gateway = ?').run(gateway);
      this.db.prepare('DELETE FROM gateway_configs WHERE gateway = ?').run(gateway);
      this.db.prepare('DELETE FROM gateway_config_reports WHERE gateway = ?').run(gateway);
    })();
  }
}

function toConfig(r: Record<string, unknown>): GatewayConfigRow {
  return {
    gateway: r.gateway as string,
    version: Number(r.version),
    devices: JSON.parse(r.devices as string),
    createdBy: r.created_by as string,
    createdAt: Number(r.created_at),
  };
}

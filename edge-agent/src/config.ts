/**
 * Edge agent configuration: one JSON file (`--config` or QLY_EDGE_CONFIG) plus environment
 * overrides. Unknown keys are rejected; every problem is printed; the process exits non-zero before
 * connecting anywhere. Secrets come from a file (`mqtt.passwordFile`) or QLY_MQTT_PASSWORD.
 */
import { readFileSync } from 'node:fs';
import { ID_PATTERN, MAX_DEVICES_PER_GATEWAY } from '@qianliyan/protocols';
import { ConfigError, readConfigFile, setPath, validateConfig } from '@qianliyan/protocols/config';
import { type Static, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { ADAPTERS, type AdapterRegistry, DEV_ADAPTER_TYPES, DEV_ADAPTERS_ENV } from './adapters/registry.ts';

const IdString = (description: string) => Type.String({ pattern: `^${ID_PATTERN}$`, description });

export const VillageSimulation = Type.Object(
  {
    center: Type.Object(
      { lat: Type.Number({ minimum: -90, maximum: 90 }), lon: Type.Number({ minimum: -180, maximum: 180 }) },
      { additionalProperties: false, description: 'village centre' },
    ),
    radiusM: Type.Number({
      minimum: 50,
      maximum: 20000,
      default: 900,
      description: 'devices are placed within this radius',
    }),
    cameras: Type.Integer({
      minimum: 0,
      maximum: 500,
      default: 6,
      description: 'number of simulated cameras',
    }),
    speakers: Type.Integer({
      minimum: 0,
      maximum: 500,
      default: 3,
      description: 'number of simulated loudspeakers',
    }),
    drones: Type.Integer({
      minimum: 0,
      maximum: 50,
      default: 1,
      description: 'number of simulated patrol drones',
    }),
    sensors: Type.Integer({
      minimum: 0,
      maximum: 500,
      default: 4,
      description:
        'number of simulated sensor stations (Modbus TCP: water level, rainfall, temperature, humidity)',
    }),
    intervalMs: Type.Integer({
      minimum: 50,
      default: 2000,
      description: 'telemetry period of sensors, cameras, speakers',
    }),
    droneRateHz: Type.Integer({
      minimum: 1,
      maximum: 50,
      default: 10,
      description: 'position messages per second each simulated drone streams over MAVLink',
    }),
    seed: Type.Integer({
      default: 1,
      description: 'placement seed: the same seed places devices the same way',
    }),
  },
  { additionalProperties: false },
);
export type VillageSimulation = Static<typeof VillageSimulation>;

const StreamChoice = Type.Union([Type.Literal('main'), Type.Literal('sub')]);

export const RecordingConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({
      default: false,
      description:
        'record every camera continuously on this gateway’s disk (a ring buffer of `-c copy` segments); off by default: it needs disk and one ffmpeg per camera',
    }),
    path: Type.Optional(
      Type.String({
        description:
          'directory of the recordings (one sub-directory per camera); default: `recordings` beside the outbox',
      }),
    ),
    stream: Type.Union([Type.Literal('main'), Type.Literal('sub')], {
      default: 'sub',
      description: 'which stream of a camera is recorded, unless `recording.cameras` says otherwise',
    }),
    segmentSeconds: Type.Integer({
      minimum: 1,
      maximum: 300,
      default: 10,
      description:
        'length of one segment (ffmpeg cuts at the first keyframe after it); a power cut loses at most the segment being written',
    }),
    maxBytesPerCamera: Type.Integer({
      minimum: 65_536,
      default: 4 * 1024 ** 3,
      description: 'ring buffer bound per camera: beyond it its oldest segments are deleted (and counted)',
    }),
    maxBytesTotal: Type.Integer({
      minimum: 65_536,
      default: 16 * 1024 ** 3,
      description:
        'ring buffer bound for all cameras together: beyond it the oldest segment of any camera goes first',
    }),
    minFreeBytes: Type.Integer({
      minimum: 0,
      default: 1024 ** 3,
      description: 'keep at least this much of the disk free: below it the oldest segments are deleted',
    }),
    stallSeconds: Type.Integer({
      minimum: 2,
      maximum: 3600,
      default: 40,
      description:
        'a camera with no segment completed for this long is `stopped` (alarm `recording_stopped`) and its ffmpeg is restarted',
    }),
    indexIntervalMs: Type.Integer({
      minimum: 1000,
      maximum: 3_600_000,
      default: 60_000,
      description:
        'the retained recordings index of a camera is sent at least this often (at once when a range opens or closes, or the ring buffer deletes)',
    }),
    clipBytesPerSecond: Type.Integer({
      minimum: 8192,
      default: 262_144,
      description:
        'a clip the hub pulls (alarm and incident evidence) is uploaded at most this fast (2 Mbit/s by default), one clip at a time, so live video and the telemetry outbox keep their share of the uplink',
    }),
    cameras: Type.Record(
      Type.String({ pattern: `^${ID_PATTERN}$` }),
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean({ description: 'false: this camera is not recorded' })),
          stream: Type.Optional(StreamChoice),
        },
        { additionalProperties: false },
      ),
      {
        default: {},
        description:
          'per camera (device id): `{enabled: false}` leaves it out, `{stream: "main"}` records its main stream',
      },
    ),
  },
  { additionalProperties: false, default: {} },
);
export type RecordingConfig = Static<typeof RecordingConfigSchema>;

export const EdgeConfigSchema = Type.Object(
  {
    gateway: Type.Object(
      {
        id: IdString('this gateway id; also its MQTT username'),
        site: IdString('the village (or grid) this gateway serves'),
      },
      { additionalProperties: false },
    ),
    mqtt: Type.Object(
      {
        url: Type.String({
          default: 'mqtt://127.0.0.1:1883',
          description: 'broker URL (mqtt:// or mqtts://)',
        }),
        username: Type.Optional(Type.String({ description: 'MQTT username; defaults to the gateway id' })),
        passwordFile: Type.Optional(
          Type.String({ description: 'file holding the MQTT password (QLY_MQTT_PASSWORD overrides)' }),
        ),
        caFile: Type.Optional(
          Type.String({
            description: 'PEM file of the CA that signed the broker certificate (mqtts:// with a private CA)',
          }),
        ),
        keepaliveS: Type.Integer({
          minimum: 5,
          maximum: 600,
          default: 30,
          description: 'MQTT keepalive, seconds',
        }),
        reconnectMinMs: Type.Integer({ minimum: 10, default: 500, description: 'backoff base delay' }),
        reconnectMaxMs: Type.Integer({ minimum: 100, default: 30000, description: 'backoff ceiling' }),
        inflightWindow: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 100,
          description: 'unacknowledged publishes in flight',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    outbox: Type.Object(
      {
        path: Type.String({
          default: 'data/edge-outbox.db',
          description: 'SQLite file of the durable outbox',
        }),
        maxMessages: Type.Integer({
          minimum: 10,
          default: 500000,
          description: 'bound on queued telemetry; the oldest are dropped and counted beyond it',
        }),
        maxControlMessages: Type.Integer({
          minimum: 100,
          default: 100000,
          description:
            'disk-safety bound on queued control messages (state, events, command results); never reached by telemetry pressure',
        }),
        maxBytes: Type.Integer({
          minimum: 65536,
          default: 268435456,
          description:
            'bound on stored telemetry payload bytes; the oldest are dropped and counted beyond it',
        }),
        fsync: Type.Boolean({
          default: false,
          description: 'fsync every write (survives power loss, slower)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    drainTimeoutMs: Type.Integer({
      minimum: 0,
      default: 5000,
      description: 'on shutdown, how long to keep sending the outbox',
    }),
    heartbeatMs: Type.Integer({
      minimum: 1000,
      default: 15000,
      description: 'period of the gateway state heartbeat',
    }),
    logLevel: Type.Union(
      [Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')],
      {
        default: 'info',
        description: 'log level',
      },
    ),
    video: Type.Object(
      {
        hubUrl: Type.Optional(
          Type.String({
            pattern: '^https?://[^\\s]+$',
            description:
              'the hub’s base URL as this gateway reaches it (http:// or https://); video pushes and snapshots go there. Without it cameras still report, but cannot be watched through the hub',
          }),
        ),
        caFile: Type.Optional(
          Type.String({
            description: 'PEM file of the CA that signed the hub’s HTTPS certificate (a private CA)',
          }),
        ),
        pushPingMs: Type.Integer({
          minimum: 200,
          maximum: 60_000,
          default: 5000,
          description:
            'a stream push pings the hub this often; the hub’s pongs (or the uplink taking buffered bytes) prove the connection alive',
        }),
        pushDeadAfterMs: Type.Integer({
          minimum: 1000,
          maximum: 600_000,
          default: 20_000,
          description:
            'no pong and no buffered byte taken for this long: the push connection is dead (a 4G link that drops packets gives no FIN or RST, and TCP would retransmit for ~15 min); ffmpeg is stopped and the push reconnects',
        }),
        pushGiveUpMs: Type.Integer({
          minimum: 1000,
          maximum: 3_600_000,
          default: 60_000,
          description:
            'a stream push whose reconnects keep failing this long stops for good (ffmpeg reaped); the hub starts a new session if it still wants the stream',
        }),
        discoveryTargets: Type.Array(Type.String({ pattern: '^[A-Za-z0-9.:\\[\\]-]{1,64}:\\d{1,5}$' }), {
          default: [],
          maxItems: 16,
          description:
            'host:port of cameras to probe by unicast WS-Discovery, besides the LAN multicast group',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    recording: RecordingConfigSchema,
    provisioning: Type.Object(
      {
        settleMs: Type.Integer({
          minimum: 0,
          maximum: 120_000,
          default: 8000,
          description:
            'after applying a config version from the hub, how long to wait for each started device to say whether it is reachable before reporting (a device still silent is reported without `online`)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    devices: Type.Array(Type.Object({ type: Type.String(), id: Type.String() }), {
      default: [],
      description: 'configured devices, each with a `type` naming its adapter',
    }),
    simulation: Type.Optional(VillageSimulation),
  },
  { additionalProperties: false },
);
export type EdgeConfig = Static<typeof EdgeConfigSchema> & {
  mqtt: { password?: string; ca?: string };
  video: { ca?: string };
};

export const ENV_OVERRIDES: Record<string, string> = {
  QLY_GATEWAY_ID: 'gateway.id',
  QLY_SITE: 'gateway.site',
  QLY_MQTT_URL: 'mqtt.url',
  QLY_MQTT_USERNAME: 'mqtt.username',
  QLY_MQTT_PASSWORD_FILE: 'mqtt.passwordFile',
  QLY_OUTBOX_PATH: 'outbox.path',
  QLY_LOG_LEVEL: 'logLevel',
  QLY_HUB_URL: 'video.hubUrl',
};

export type DeviceConfig = { type: string; id: string } & Record<string, unknown>;

/**
 * Checks device configs against their adapters (schema with defaults, then the adapter's own
 * `check`, then unique ids): the file's devices at start, and each version the hub sends. Problems
 * name the device by its index (`/devices/3/xaddr: …`).
 */
export function checkDevices(
  devices: readonly unknown[],
  adapters: AdapterRegistry,
  taken: ReadonlySet<string> = new Set(),
): { problems: string[]; devices: DeviceConfig[] } {
  const problems: string[] = [];
  const out: DeviceConfig[] = [];
  const ids = new Set<string>();
  devices.forEach((device: unknown, i: number) => {
    const type = (device as { type?: unknown })?.type;
    const adapter = typeof type === 'string' && Object.hasOwn(adapters, type) ? adapters[type] : undefined;
    if (!adapter) {
      problems.push(
        typeof type === 'string' && DEV_ADAPTER_TYPES.includes(type)
          ? `/devices/${i}/type: ${type} is a simulated test device, not a production adapter; it runs only when the agent is started with ${DEV_ADAPTERS_ENV}=1 (tests and development)`
          : `/devices/${i}/type: unknown device type ${JSON.stringify(type)} (known: ${Object.keys(adapters).join(', ')})`,
      );
      return;
    }
    const withDefaults = Value.Default(adapter.configSchema, structuredClone(device));
    const schemaErrors = [...TypeCompiler.Compile(adapter.configSchema).Errors(withDefaults)];
    for (const e of schemaErrors) problems.push(`/devices/${i}${e.path}: ${e.message}`);
    if (schemaErrors.length === 0)
      for (const problem of adapter.check?.(withDefaults as never) ?? [])
        problems.push(`/devices/${i}${problem}`);
    const id = (device as { id?: string }).id;
    if (id && (ids.has(id) || taken.has(id))) problems.push(`/devices/${i}/id: duplicate device id ${id}`);
    if (id) ids.add(id);
    out[i] = withDefaults as DeviceConfig;
  });
  return { problems, devices: out };
}

/**
 * Reads and checks the config. `adapters` is the registry devices are checked against: the
 * production one, unless the entry added the simulated test devices (`QLY_DEV_ADAPTERS=1`).
 */
export function loadEdgeConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  adapters: AdapterRegistry = ADAPTERS,
): EdgeConfig {
  const raw = readConfigFile(path) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(path ?? 'defaults', ['must be a JSON object']);
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) if (env[name]) setPath(raw, key, env[name]);
  const source = path ?? 'defaults';
  const problems: string[] = [];
  let config: EdgeConfig | undefined;
  try {
    config = validateConfig(EdgeConfigSchema, raw, source) as EdgeConfig;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  // Each device is checked against its own adapter's schema, so errors name the right fields.
  const devices = Array.isArray(raw.devices) ? raw.devices : [];
  const checked = checkDevices(devices, adapters);
  problems.push(...checked.problems);
  if (config) config.devices = checked.devices;
  const sim = config?.simulation;
  const total = devices.length + (sim ? sim.cameras + sim.speakers + sim.sensors + sim.drones : 0);
  if (total > MAX_DEVICES_PER_GATEWAY)
    problems.push(
      `/devices: ${total} devices (configured and simulated) exceed the ${MAX_DEVICES_PER_GATEWAY} one gateway may run`,
    );
  if (problems.length > 0 || !config) throw new ConfigError(source, [...new Set(problems)]);

  const passwordFile = env.QLY_MQTT_PASSWORD_FILE ?? config.mqtt.passwordFile;
  if (env.QLY_MQTT_PASSWORD) config.mqtt.password = env.QLY_MQTT_PASSWORD;
  else if (passwordFile) {
    try {
      config.mqtt.password = readFileSync(passwordFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(source, [
        `/mqtt/passwordFile: cannot read ${passwordFile}: ${(err as Error).message}`,
      ]);
    }
  }
  if (config.mqtt.caFile) {
    try {
      config.mqtt.ca = readFileSync(config.mqtt.caFile, 'utf8');
    } catch (err) {
      throw new ConfigError(source, [
        `/mqtt/caFile: cannot read ${config.mqtt.caFile}: ${(err as Error).message}`,
      ]);
    }
  }
  if (config.video.caFile) {
    try {
      config.video.ca = readFileSync(config.video.caFile, 'utf8');
    } catch (err) {
      throw new ConfigError(source, [
        `/video/caFile: cannot read ${config.video.caFile}: ${(err as Error).message}`,
      ]);
    }
  }
  return config;
}

/**
 * Hub configuration: an optional JSON file (`--config` or QLY_HUB_CONFIG) plus environment overrides
 * (PORT, DATA_DIR, QLY_*). Unknown keys are rejected and every problem is reported before the hub
 * connects anywhere. Secrets (JWT key, broker password) come from files, never from the config itself.
 */
import { fileURLToPath } from 'node:url';
import {
  AGENT_VERSION,
  ALARM_SEVERITIES,
  IceServer,
  ID_PATTERN,
  INCIDENT_PRIORITIES,
  LinkageRule,
  MAX_DEVICES_PER_GATEWAY,
} from '@qianliyan/protocols';
import { ConfigError, readConfigFile, setPath, validateConfig } from '@qianliyan/protocols/config';
import { type Static, Type } from '@sinclair/typebox';

const HOUR = 3_600_000;

const here = (rel: string) => fileURLToPath(new URL(rel, import.meta.url));

export const HubConfigSchema = Type.Object(
  {
    host: Type.String({ default: '0.0.0.0', description: 'HTTP listen address' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port (env PORT)' }),
    dataDir: Type.String({ default: 'data', description: 'where the hub keeps its files (env DATA_DIR)' }),
    logLevel: Type.Union(
      ['trace', 'debug', 'info', 'warn', 'error', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'pino log level (env QLY_LOG_LEVEL)' },
    ),
    dashboardDir: Type.String({
      default: here('../../dashboard/dist'),
      description: 'built dashboard served at /',
    }),
    mqtt: Type.Object(
      {
        url: Type.Optional(
          Type.String({
            description: 'external broker URL; when unset the embedded broker runs (env QLY_MQTT_URL)',
          }),
        ),
        username: Type.String({ default: 'qly-hub', description: 'the hub’s MQTT username' }),
        passwordFile: Type.Optional(
          Type.String({ description: 'file with the hub’s password on an external broker' }),
        ),
        caFile: Type.Optional(
          Type.String({
            description: 'PEM file of the CA that signed an external broker’s certificate (mqtts://)',
          }),
        ),
        clientId: Type.String({
          default: 'qly-hub',
          description:
            'MQTT client id; the session is persistent (clean=false). Reserved to the hub’s credential',
        }),
        protocolVersion: Type.Union([Type.Literal(4), Type.Literal(5)], {
          default: 4,
          description:
            'MQTT version toward an external broker: 5 subscribes with retain-as-published, so the hub sees (and clears) retained messages a gateway may not retain; the embedded broker speaks 4 and refuses those itself',
        }),
        embeddedHost: Type.String({ default: '0.0.0.0', description: 'embedded broker listen address' }),
        embeddedPort: Type.Integer({
          minimum: 0,
          maximum: 65535,
          default: 1883,
          description: 'embedded broker port (env QLY_MQTT_PORT)',
        }),
        plaintext: Type.Boolean({
          default: true,
          description: 'embedded broker: serve plain MQTT on embeddedPort; false leaves only MQTT over TLS',
        }),
        tlsPort: Type.Optional(
          Type.Integer({
            minimum: 0,
            maximum: 65535,
            description:
              'embedded broker: MQTT over TLS on this port (certificate from tls.certFile/keyFile)',
          }),
        ),
        mosquitto: Type.Object(
          {
            passwordFile: Type.Optional(
              Type.String({
                description:
                  'Mosquitto’s password file: the hub writes gateway credentials there (onboard, rotate, delete)',
              }),
            ),
            pidFile: Type.Optional(
              Type.String({
                description:
                  'Mosquitto’s pid_file: the hub sends SIGHUP after a change, ending rotated sessions',
              }),
            ),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    ingest: Type.Object(
      {
        maxPayloadBytes: Type.Integer({
          minimum: 1024,
          default: 262144,
          description: 'larger payloads are rejected (oversize)',
        }),
        maxFutureMs: Type.Integer({
          minimum: 0,
          default: 300000,
          description: 'timestamps further ahead are rejected (clock skew)',
        }),
        flushMaxRows: Type.Integer({
          minimum: 1,
          default: 2000,
          description: 'a batch is written when the event loop turns, or as soon as it holds this many rows',
        }),
        ackWindow: Type.Integer({
          minimum: 1,
          default: 1000,
          description:
            'held acknowledgements at which a batch is written at once: set it to the broker’s in-flight window toward the hub (Mosquitto max_inflight_messages)',
        }),
        flushMinIntervalMs: Type.Integer({
          minimum: 0,
          maximum: 1000,
          default: 5,
          description:
            'otherwise batches are written when the event loop turns, at most this often (larger batches, fewer commits; acknowledgements wait at most this long)',
        }),
        maxBacklogRows: Type.Integer({
          minimum: 100,
          default: 100000,
          description:
            'rows accepted but not yet stored (a failing store); beyond it the hub disconnects from the broker until they are stored',
        }),
        retryMinMs: Type.Integer({
          minimum: 10,
          default: 100,
          description: 'first retry of a failed store write',
        }),
        retryMaxMs: Type.Integer({
          minimum: 100,
          default: 10000,
          description: 'longest wait between retries of a failed store write',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    limits: Type.Object(
      {
        maxPacketBytes: Type.Integer({
          minimum: 1024,
          default: 262144,
          description:
            'embedded broker: largest MQTT packet (remaining length); larger drops the connection unread. Mosquitto: max_packet_size',
        }),
        gatewayMessagesPerSecond: Type.Number({
          exclusiveMinimum: 0,
          default: 5000,
          description:
            'messages per second per gateway: the embedded broker slows a faster gateway (backpressure); behind an external broker the hub drops the excess (rate_limited)',
        }),
        gatewayBurst: Type.Integer({
          minimum: 1,
          default: 50000,
          description:
            'messages a gateway may send above its rate in one burst (an outbox draining after an outage)',
        }),
        maxThrottleMs: Type.Integer({
          minimum: 100,
          default: 10000,
          description:
            'embedded broker: a gateway that would have to wait longer than this is flooding and is disconnected',
        }),
        gatewayConnectsPerMinute: Type.Integer({
          minimum: 1,
          default: 30,
          description:
            'embedded broker: successful connections per gateway per minute (counted after its password is checked, so nobody else can spend them)',
        }),
        connectFailuresPerMinutePerAddress: Type.Integer({
          minimum: 1,
          default: 10,
          description:
            'embedded broker: failed CONNECTs per source address (IPv6: per /64) per minute answered promptly; beyond, each waits limits.connectFailureMaxDelayMs',
        }),
        connectFailuresPerSecond: Type.Integer({
          minimum: 1,
          default: 20,
          description:
            'embedded broker: failed CONNECTs answered per second, hub-wide (a guesser on many addresses waits in one queue)',
        }),
        connectFailureMaxDelayMs: Type.Integer({
          minimum: 0,
          maximum: 60_000,
          default: 5000,
          description: 'embedded broker: the longest a failed CONNECT waits for its answer',
        }),
        maxDevicesPerGateway: Type.Integer({
          minimum: 1,
          maximum: MAX_DEVICES_PER_GATEWAY,
          default: MAX_DEVICES_PER_GATEWAY,
          description: 'device quota per gateway: a descriptor for one more device is refused (device_quota)',
        }),
        siteToleranceM: Type.Number({
          minimum: 0,
          maximum: 10_000,
          default: 300,
          description:
            'how far outside its site’s outline a gateway may place a fixed device; further is refused (outside_site)',
        }),
        siteRadiusM: Type.Number({
          minimum: 100,
          maximum: 50_000,
          default: 2500,
          description: 'a site without an outline (site tree or base map) extends this far around its centre',
        }),
        droneRangeM: Type.Number({
          minimum: 0,
          maximum: 100_000,
          default: 15_000,
          description: 'how far beyond its site’s outline a drone’s reported position is accepted',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    tls: Type.Object(
      {
        certFile: Type.Optional(
          Type.String({
            description: 'PEM certificate: when set with keyFile the hub serves HTTPS (and WSS)',
          }),
        ),
        keyFile: Type.Optional(Type.String({ description: 'PEM private key of certFile' })),
        caFile: Type.Optional(
          Type.String({
            description: 'PEM of the CA that signed certFile (for the hub’s own loopback MQTT over TLS)',
          }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    state: Type.Object(
      {
        backend: Type.Union([Type.Literal('sqlite'), Type.Literal('postgres')], {
          default: 'sqlite',
          description:
            'where users, sessions, sites, the registry, commands, alarms, incidents, broadcasts, calls, clips and the audit chain are kept: the embedded SQLite file (one hub) or PostgreSQL (several hubs sharing state) (env QLY_STATE)',
        }),
        postgres: Type.Object(
          {
            url: Type.String({
              default: 'postgresql://qianliyan@127.0.0.1:5432/qianliyan',
              description: 'libpq connection string, without the password (env QLY_PG_URL)',
            }),
            passwordFile: Type.Optional(
              Type.String({ description: 'file holding the PostgreSQL password (env QLY_PG_PASSWORD_FILE)' }),
            ),
            statementTimeoutMs: Type.Integer({
              minimum: 100,
              default: 5000,
              description:
                'longest a statement may run: queries are synchronous, so this bounds how long one can hold the event loop',
            }),
            connectTimeoutS: Type.Integer({
              minimum: 1,
              default: 5,
              description: 'longest a (re)connection attempt may block',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    cluster: Type.Object(
      {
        redisUrl: Type.Optional(
          Type.String({
            description:
              'Redis URL; when set the hub runs as one of several (needs state.backend postgres and an external broker): live fan-out and cluster events through the socket.io Redis adapter, ingest through shared subscriptions (env QLY_REDIS_URL)',
          }),
        ),
        hubId: Type.String({
          default: 'hub-1',
          pattern: '^[A-Za-z0-9_-]{1,32}$',
          description:
            'this hub’s name in the cluster: its preferred ingest slot and its leases (env QLY_HUB_ID)',
        }),
        shareGroup: Type.String({
          default: 'qly-hubs',
          pattern: '^[A-Za-z0-9_-]{1,32}$',
          description: 'the MQTT shared-subscription group the hubs ingest through (`$share/<group>/…`)',
        }),
        ingestSlots: Type.Integer({
          minimum: 1,
          maximum: 64,
          default: 3,
          description:
            'persistent MQTT sessions of the share group (client ids `<mqtt.clientId>-<n>`); each is held by one live hub at a time (a PostgreSQL advisory lock), so a dead hub’s session, with its unacknowledged and queued messages, is taken over by a survivor. At least the number of hubs',
        }),
        slotPollMs: Type.Integer({
          minimum: 100,
          default: 500,
          description:
            'how often a hub looks for ingest slots and leases nobody holds (bounds failover time)',
        }),
        advertiseUrl: Type.Optional(
          Type.String({
            description:
              'this hub’s own address as the other hubs reach it (http://hub-2:8080): a viewer on another hub watches a camera streamed here through it, and a gateway pushes the stream here (env QLY_ADVERTISE_URL)',
          }),
        ),
        claimRetentionH: Type.Integer({
          minimum: 1,
          default: 48,
          description:
            'how long the identity of each stored message is kept for deduplication across hubs (a redelivery comes within minutes of a failure; InfluxDB keeps one point per timestamp beyond that anyway)',
        }),
        fanoutIntervalMs: Type.Integer({
          minimum: 10,
          default: 100,
          description:
            'live registry changes are batched to the other hubs this often (per device: the latest)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    timeseries: Type.Object(
      {
        backend: Type.Union([Type.Literal('sqlite'), Type.Literal('influxdb')], {
          default: 'sqlite',
          description:
            'where telemetry and events are kept: the embedded SQLite file (one town) or InfluxDB (a county) (env QLY_TIMESERIES)',
        }),
        fsync: Type.Boolean({
          default: false,
          description:
            'SQLite synchronous=FULL: an acknowledged message also survives power loss (a committed batch always survives a crash of the hub process)',
        }),
        retention: Type.Object(
          {
            rawDays: Type.Number({ minimum: 1, default: 30, description: 'SQLite: raw samples kept (days)' }),
            minuteDays: Type.Number({
              minimum: 1,
              default: 180,
              description: 'SQLite: 1-minute rollups kept (days)',
            }),
            hourDays: Type.Number({
              minimum: 1,
              default: 1825,
              description: 'SQLite: 1-hour rollups kept (days)',
            }),
            eventDays: Type.Number({
              minimum: 1,
              default: 365,
              description: 'SQLite: device events kept (days)',
            }),
            rollupIntervalMs: Type.Integer({
              minimum: 500,
              default: 5000,
              description: 'SQLite: how often new samples are added to the rollups',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
        influxdb: Type.Object(
          {
            url: Type.String({
              default: 'http://127.0.0.1:8086',
              description: 'InfluxDB HTTP API, v1 endpoints (env QLY_INFLUX_URL)',
            }),
            database: Type.String({ minLength: 1, default: 'qianliyan' }),
            username: Type.Optional(Type.String({ minLength: 1 })),
            passwordFile: Type.Optional(
              Type.String({
                description: 'file holding the InfluxDB password (env QLY_INFLUX_PASSWORD_FILE)',
              }),
            ),
            retentionPolicy: Type.Optional(
              Type.String({ description: 'write into this retention policy instead of the default' }),
            ),
            batchPoints: Type.Integer({ minimum: 1, default: 5000, description: 'lines per write request' }),
            flushIntervalMs: Type.Integer({
              minimum: 10,
              default: 1000,
              description: 'a batch that is not full is sent after this long',
            }),
            maxBufferPoints: Type.Integer({
              minimum: 1000,
              default: 5_000_000,
              description:
                'points the local spool holds while InfluxDB is unreachable; beyond it the hub stops acknowledging (nothing is dropped)',
            }),
            timeoutMs: Type.Integer({ minimum: 100, default: 10_000, description: 'per request' }),
            retryMinMs: Type.Integer({
              minimum: 10,
              default: 500,
              description: 'first retry of a failed write',
            }),
            retryMaxMs: Type.Integer({
              minimum: 100,
              default: 30_000,
              description: 'longest wait between retries',
            }),
            createDatabase: Type.Boolean({
              default: true,
              description: 'create the database when it does not exist',
            }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    registry: Type.Object(
      {
        heartbeatTimeoutMs: Type.Integer({
          minimum: 1000,
          default: 45000,
          description:
            'a gateway silent this long is offline (gateways that announce their heartbeat period: three periods)',
        }),
        alarmHoldMs: Type.Integer({
          minimum: 1000,
          default: 600000,
          description: 'how long an alarm event keeps a device red',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    live: Type.Object(
      {
        flushIntervalMs: Type.Integer({
          minimum: 5,
          default: 25,
          description: 'socket.io delta coalescing period',
        }),
        subscribesPerSecond: Type.Number({
          exclusiveMinimum: 0,
          default: 5,
          description: 'subscribe messages per second per socket (a map pans and zooms a few times a second)',
        }),
        subscribeBurst: Type.Integer({
          minimum: 1,
          default: 20,
          description: 'subscribe messages a socket may send at once',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    incidents: Type.Object(
      {
        acceptMs: Type.Integer({
          minimum: 1000,
          default: 8 * HOUR,
          description: 'time to accept an incident (8 hours is the norm in the field)',
        }),
        resolveMs: Type.Integer({
          minimum: 1000,
          default: 72 * HOUR,
          description: 'time to resolve an incident',
        }),
        warnBeforeMs: Type.Integer({
          minimum: 0,
          default: HOUR,
          description: 'a warning this long before an accept-by or resolve-by deadline',
        }),
        sla: Type.Array(
          Type.Object(
            {
              category: Type.Optional(Type.String({ maxLength: 64 })),
              priority: Type.Optional(Type.Union(INCIDENT_PRIORITIES.map((p) => Type.Literal(p)))),
              acceptMs: Type.Integer({ minimum: 1000 }),
              resolveMs: Type.Integer({ minimum: 1000 }),
              warnBeforeMs: Type.Optional(Type.Integer({ minimum: 0 })),
            },
            { additionalProperties: false },
          ),
          {
            default: [
              { priority: 'urgent', acceptMs: HOUR / 2, resolveMs: 24 * HOUR, warnBeforeMs: 10 * 60_000 },
              { priority: 'high', acceptMs: 2 * HOUR, resolveMs: 48 * HOUR, warnBeforeMs: 30 * 60_000 },
            ],
            description: 'deadlines per category and/or priority (the most specific entry wins)',
          },
        ),
        autoEscalate: Type.Boolean({
          default: true,
          description: 'an incident not accepted by its deadline goes up a level (village → town → county)',
        }),
        sweepIntervalMs: Type.Integer({
          minimum: 100,
          default: 1000,
          description: 'how often SLA timers are checked',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    alarms: Type.Object(
      {
        tickMs: Type.Integer({
          minimum: 100,
          maximum: 60_000,
          default: 1000,
          description:
            'how often the alarm scheduler runs (re-notify, escalation, duration and absence rules, notification retries)',
        }),
        renotifyAfterMs: Type.Integer({
          minimum: 0,
          default: 5 * 60_000,
          description:
            'an unacknowledged alarm is notified again after this long, and again each time (0: never)',
        }),
        renotifyMinSeverity: Type.Union(
          ALARM_SEVERITIES.map((l) => Type.Literal(l)),
          {
            default: 'alarm',
            description: 'the least severity that is re-notified',
          },
        ),
        escalateAfterMs: Type.Integer({
          minimum: 0,
          default: 10 * 60_000,
          description:
            'an unacknowledged alarm goes up one level of the site tree (village → town → county) after this long at each level (0: never)',
        }),
        escalateMinSeverity: Type.Union(
          ALARM_SEVERITIES.map((l) => Type.Literal(l)),
          {
            default: 'alarm',
            description: 'the least severity that is escalated',
          },
        ),
        flapWindowMs: Type.Integer({
          minimum: 0,
          default: 10 * 60_000,
          description:
            'a health or rule condition back within this long of clearing reopens its alarm (with a count) instead of raising a new one',
        }),
        healthStartupGraceMs: Type.Integer({
          minimum: 0,
          default: 30_000,
          description:
            'after the hub starts, device health is not judged for this long (retained states and heartbeats arrive first)',
        }),
        rulePreviewMaxDevices: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 500,
          description: 'the most devices a rule preview replays history for',
        }),
        reportTimeZoneOffsetMinutes: Type.Integer({
          minimum: -720,
          maximum: 840,
          default: 480,
          description: 'the time zone of report days and quiet hours, minutes east of UTC (480: China)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    notifications: Type.Object(
      {
        channels: Type.Array(
          Type.Union([
            Type.Object(
              {
                id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
                type: Type.Literal('webhook'),
                url: Type.String({ pattern: '^https?://', description: 'where the signed JSON is POSTed' }),
                secretFile: Type.String({ description: 'file holding the HMAC-SHA256 key' }),
                timeoutMs: Type.Integer({ minimum: 100, default: 5000 }),
              },
              { additionalProperties: false },
            ),
            Type.Object(
              {
                id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
                type: Type.Literal('email'),
                host: Type.String(),
                port: Type.Integer({ minimum: 1, maximum: 65535, default: 587 }),
                secure: Type.Boolean({ default: false, description: 'TLS from the start (port 465)' }),
                username: Type.Optional(Type.String()),
                passwordFile: Type.Optional(Type.String({ description: 'file holding the SMTP password' })),
                from: Type.String({ description: 'the sender address' }),
                timeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
              },
              { additionalProperties: false },
            ),
            Type.Object(
              {
                id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }),
                type: Type.Literal('sms'),
                url: Type.String({
                  pattern: '^https?://',
                  description: 'the SMS gateway URL; {{to}}, {{text}} … are filled in URL-encoded',
                }),
                method: Type.Union([Type.Literal('POST'), Type.Literal('GET')], { default: 'POST' }),
                contentType: Type.String({ default: 'application/json' }),
                bodyTemplate: Type.String({
                  default: '{"to":"{{to}}","text":"{{text}}"}',
                  description:
                    'the request body; {{to}} {{text}} {{id}} {{severity}} {{site}} {{device}} {{type}} are filled in (JSON-escaped for a JSON content type, URL-encoded otherwise)',
                }),
                tokenFile: Type.Optional(
                  Type.String({ description: 'file holding a bearer token for the gateway' }),
                ),
                timeoutMs: Type.Integer({ minimum: 100, default: 5000 }),
              },
              { additionalProperties: false },
            ),
          ]),
          {
            default: [],
            description:
              'where notifications go: webhook, e-mail (SMTP) and SMS gateway channels; subscriptions (REST) name them by id',
          },
        ),
        maxAttempts: Type.Integer({
          minimum: 1,
          maximum: 20,
          default: 5,
          description: 'attempts per delivery',
        }),
        retryBaseMs: Type.Integer({
          minimum: 100,
          default: 1000,
          description: 'the first retry waits this long; each next one twice as long',
        }),
        retryMaxMs: Type.Integer({
          minimum: 100,
          default: 300_000,
          description: 'the longest wait between attempts',
        }),
        ratePerMinute: Type.Integer({
          minimum: 1,
          default: 20,
          description: 'deliveries per subscription per minute; the rest are logged as rate_limited',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    linkage: Type.Object(
      {
        rules: Type.Array(LinkageRule, {
          default: [
            {
              id: 'intrusion',
              name: '入侵联动',
              when: { types: ['intrusion', 'line_crossing'] },
              actions: {
                incident: { category: 'intrusion', priority: 'high' },
                cameras: { count: 3, maxDistanceM: 800 },
                broadcast: {
                  mode: 'propose',
                  text: '您已进入监控区域，请立即离开。',
                  count: 2,
                  maxDistanceM: 1000,
                },
                drone: { maxDistanceM: 5000 },
                notify: true,
              },
            },
            {
              id: 'fire',
              name: '火情联动',
              when: { types: ['fire', 'smoke'] },
              actions: {
                incident: { category: 'fire', priority: 'urgent' },
                cameras: { count: 3, maxDistanceM: 1500 },
                broadcast: {
                  mode: 'auto',
                  text: '附近发现火情，请立即撤离，不要靠近。',
                  count: 5,
                  maxDistanceM: 2000,
                },
                drone: { maxDistanceM: 10000 },
                notify: true,
              },
            },
          ],
          description:
            'when an event of these types happens at a device in these sites → actions (replaced through PUT /api/linkage/rules)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    calls: Type.Object(
      {
        iceServers: Type.Array(IceServer, {
          default: [],
          description:
            'STUN/TURN servers handed to browsers; none on a LAN (no internet needed), a TURN server for routed networks',
        }),
        ringTimeoutMs: Type.Integer({
          minimum: 5000,
          default: 30_000,
          description: 'an unanswered call becomes a missed call after this long',
        }),
        maxStartsPer10s: Type.Integer({
          minimum: 1,
          maximum: 100,
          default: 3,
          description:
            'calls one user may start in any 10 s (and one ringing call per caller and callee at a time)',
        }),
        signalBytesPerSecond: Type.Integer({
          minimum: 16_384,
          default: 65_536,
          description:
            'signalling bytes (SDP, ICE candidates) one socket may relay per second, with 4 s of burst; beyond, signals are refused',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        jwtSecretFile: Type.Optional(
          Type.String({ description: 'JWT signing key file; default DATA_DIR/jwt-secret (created)' }),
        ),
        tokenTtl: Type.String({ default: '12h', description: 'login token lifetime' }),
        loginPerMinutePerAddress: Type.Integer({
          minimum: 1,
          default: 30,
          description: 'login attempts per minute from one address (429 with Retry-After beyond)',
        }),
        lockoutFailures: Type.Integer({
          minimum: 1,
          default: 5,
          description:
            'failed logins in a row from one address that lock that address (only) out of that username',
        }),
        lockoutMs: Type.Integer({
          minimum: 1000,
          default: 300000,
          description:
            'how long a locked (address, username) pair waits; also the window in which a username’s failures slow its logins',
        }),
        slowdownAfterFailures: Type.Integer({
          minimum: 0,
          default: 5,
          description:
            'failed logins for one username (from anywhere, within auth.lockoutMs) before each further attempt on it is delayed',
        }),
        slowdownStepMs: Type.Integer({
          minimum: 0,
          maximum: 60_000,
          default: 1000,
          description: 'delay added per failure beyond auth.slowdownAfterFailures (a delay, never a refusal)',
        }),
        slowdownMaxMs: Type.Integer({
          minimum: 0,
          maximum: 60_000,
          default: 5000,
          description: 'the longest a login attempt is delayed for failures of its username',
        }),
        scryptLog2N: Type.Integer({
          minimum: 10,
          maximum: 20,
          default: 17,
          description:
            'scrypt cost of user password hashes, log2 N (OWASP: 17, with r=8, p=1); older hashes are upgraded at the next login',
        }),
        metricsTokenFile: Type.Optional(
          Type.String({ description: 'bearer token file that may read /metrics (for Prometheus)' }),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    video: Type.Object(
      {
        ffmpegPath: Type.String({
          default: '',
          description:
            'ffmpeg binary; empty = FFMPEG_PATH, else /usr/bin/ffmpeg when installed, else the npm-installed one',
        }),
        idleStopMs: Type.Integer({
          minimum: 0,
          maximum: 600_000,
          default: 5000,
          description: 'a stream stops this long after its last viewer leaves',
        }),
        stallMs: Type.Integer({
          minimum: 500,
          maximum: 60_000,
          default: 3000,
          description: 'no video this long: viewers see "stalled"',
        }),
        watchdogMs: Type.Integer({
          minimum: 2000,
          maximum: 600_000,
          default: 20_000,
          description: 'no video this long: the stream source is restarted (with backoff)',
        }),
        startTimeoutMs: Type.Integer({
          minimum: 1000,
          maximum: 60_000,
          default: 15_000,
          description: 'how long a stream (or a snapshot) may take to start',
        }),
        tokenTtlS: Type.Integer({
          minimum: 5,
          maximum: 3600,
          default: 60,
          description: 'lifetime of a stream token (it only has to open the socket)',
        }),
        maxRelays: Type.Integer({
          minimum: 1,
          maximum: 4096,
          default: 64,
          description: 'camera streams relayed at once',
        }),
        maxViewers: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 512,
          description: 'viewer sockets at once',
        }),
        maxViewersPerUser: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 36,
          description: 'viewer sockets per user',
        }),
        maxSnapshots: Type.Integer({
          minimum: 1,
          maximum: 4096,
          default: 64,
          description: 'snapshots in progress at once, hub-wide (beyond: 503)',
        }),
        maxSnapshotsPerUser: Type.Integer({
          minimum: 1,
          maximum: 4096,
          default: 4,
          description:
            'snapshots one user may have in progress at once (beyond: 429), so one user cannot take the hub-wide ones',
        }),
        maxViewerBufferBytes: Type.Integer({
          minimum: 65_536,
          default: 4 * 1024 * 1024,
          description: 'bytes queued to one viewer before it skips to the next keyframe',
        }),
        maxPushBytesPerSecond: Type.Integer({
          minimum: 65_536,
          default: 4_000_000,
          description: 'a gateway pushing one stream faster than this is cut off (32 Mbit/s)',
        }),
        maxPushMessagesPerSecond: Type.Integer({
          minimum: 10,
          default: 400,
          description:
            'a gateway sending one stream in more WebSocket messages than this per second is cut off (its pusher sends one per pipe read, a few dozen a second)',
        }),
        maxGatewayPushBytesPerSecond: Type.Integer({
          minimum: 65_536,
          default: 16_000_000,
          description:
            'all the streams of one gateway together: the stream that crosses it is cut off (128 Mbit/s)',
        }),
        maxGatewayCpuMsPerSecond: Type.Integer({
          minimum: 10,
          maximum: 1000,
          default: 200,
          description:
            'hub CPU time one gateway’s pushed media may use per second (parsing, fan-out); beyond it its streams are paused until the next second',
        }),
        maxGatewayBufferBytes: Type.Integer({
          minimum: 1024 * 1024,
          default: 48 * 1024 * 1024,
          description:
            'media of one gateway held by the hub at once (unfinished boxes and keyframe caches); beyond it the stream that crosses it is cut off',
        }),
        badMediaBackoffMs: Type.Integer({
          minimum: 1000,
          maximum: 3_600_000,
          default: 30_000,
          description:
            'a stream that sent something that is not video is retried after this long, doubling up to 10 minutes (until it has played cleanly for a minute)',
        }),
        maxTranscodes: Type.Integer({
          minimum: 0,
          maximum: 64,
          default: 4,
          description:
            'H.264 transcoders the hub runs at most at once, for H.265 cameras watched in browsers that cannot play H.265 (each costs a good part of a core; 0: never transcode, such viewers see why)',
        }),
        jsmpegKbps: Type.Integer({
          minimum: 100,
          maximum: 20_000,
          default: 800,
          description: 'MPEG-1 bitrate for browsers without MSE (JSMpeg)',
        }),
        pull: Type.Record(
          Type.String({ pattern: `^${ID_PATTERN}\\.${ID_PATTERN}$` }),
          Type.Object(
            {
              main: Type.Optional(Type.String({ pattern: '^rtsps?://' })),
              sub: Type.Optional(Type.String({ pattern: '^rtsps?://' })),
            },
            { additionalProperties: false },
          ),
          {
            default: {},
            description:
              'cameras the hub reaches directly, by device key (`gateway.device`): RTSP URLs (credentials in the URL) the hub pulls itself instead of asking the gateway to push',
          },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    recording: Type.Object(
      {
        clipBeforeMs: Type.Integer({
          minimum: 0,
          maximum: 300_000,
          default: 30_000,
          description: 'an alarm’s or incident’s clip starts this long before it',
        }),
        clipAfterMs: Type.Integer({
          minimum: 1000,
          maximum: 300_000,
          default: 60_000,
          description: 'and ends this long after it (the hub asks once the gateway has recorded that far)',
        }),
        clipEventTypes: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_.-]{0,63}$' }), {
          default: ['intrusion', 'line_crossing', 'tamper'],
          maxItems: 64,
          description:
            'camera event alarms that pull a clip at once (every incident opened from a camera’s alarm pulls one too)',
        }),
        keepAfterCloseMs: Type.Integer({
          minimum: 0,
          default: 180 * 24 * HOUR,
          description:
            'a clip is kept while its incident is open and this long after it is closed (an alarm’s clip without an incident: this long after it was stored)',
        }),
        retryMs: Type.Integer({
          minimum: 1000,
          maximum: 3_600_000,
          default: 30_000,
          description:
            'a pull that failed (gateway offline, uplink down) is tried again after this long, at once when the gateway comes back',
        }),
        maxAttempts: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 100,
          description: 'pulls of one clip before it is marked failed',
        }),
        maxClipBytes: Type.Integer({
          minimum: 65_536,
          default: 256 * 1024 * 1024,
          description: 'the largest clip a gateway may upload (bigger uploads are refused and counted)',
        }),
        pullTimeoutMs: Type.Integer({
          minimum: 5000,
          maximum: 600_000,
          default: 300_000,
          description: 'how long one pull (the gateway cutting and uploading the clip) may take',
        }),
        tokenTtlMs: Type.Integer({
          minimum: 1000,
          maximum: 3_600_000,
          default: 60_000,
          description: 'a clip’s download token is good this long, and once',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    provisioning: Type.Object(
      {
        codeTtlMinutes: Type.Integer({
          minimum: 1,
          maximum: 10_080,
          default: 60,
          description: 'how long an enrolment code is valid when the administrator does not say',
        }),
        hubUrl: Type.Optional(
          Type.String({
            pattern: '^https?://[^\\s]+$',
            description:
              'the hub’s URL as gateways reach it (enrolment, video pushes); default: the URL the administrator’s request came in on',
          }),
        ),
        mqttUrl: Type.Optional(
          Type.String({
            pattern: '^mqtts?://[^\\s]+$',
            description:
              'the broker URL as gateways reach it, handed out at enrolment; default: the embedded broker’s port on the hub’s host name',
          }),
        ),
        enrolAttemptsPerMinute: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 20,
          description:
            'enrolment attempts per source address per minute (codes are 100 bits, this bounds the noise)',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    fleet: Type.Object(
      {
        minAgentVersion: Type.String({
          pattern: '^[0-9]+(\\.[0-9]+){0,3}$',
          default: AGENT_VERSION,
          description:
            'gateways reporting an older edge-agent version are flagged `outdated` in the fleet report (GET /api/fleet) and counted in qly_gateways_outdated',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    map: Type.Object(
      {
        tileUrl: Type.String({
          default: '',
          description: 'XYZ tile URL template; empty = offline, GeoJSON base only',
        }),
        tileAttribution: Type.String({ default: '', description: 'attribution shown with the tiles' }),
        basemapFile: Type.String({
          default: here('../assets/demo-village.geojson'),
          description: 'village boundary/grid GeoJSON',
        }),
        center: Type.Object(
          {
            lat: Type.Number({ minimum: -90, maximum: 90 }),
            lon: Type.Number({ minimum: -180, maximum: 180 }),
          },
          {
            additionalProperties: false,
            default: { lat: 30.042, lon: 119.951 },
            description: 'initial map centre',
          },
        ),
        zoom: Type.Integer({ minimum: 1, maximum: 22, default: 15, description: 'initial zoom' }),
      },
      { additionalProperties: false, default: {} },
    ),
    sites: Type.Array(
      Type.Object(
        {
          id: Type.String({ pattern: `^${ID_PATTERN}$` }),
          name: Type.String({ minLength: 1, maxLength: 128 }),
          level: Type.Optional(
            Type.Union([
              Type.Literal('county'),
              Type.Literal('town'),
              Type.Literal('village'),
              Type.Literal('grid'),
            ]),
          ),
          parent: Type.Optional(Type.String({ pattern: `^${ID_PATTERN}$` })),
          center: Type.Optional(
            Type.Object(
              {
                lat: Type.Number({ minimum: -90, maximum: 90 }),
                lon: Type.Number({ minimum: -180, maximum: 180 }),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
      {
        default: [
          { id: 'demo-county', name: '示范县', level: 'county', center: { lat: 30.03, lon: 119.96 } },
          {
            id: 'qianli-town',
            name: '千里镇',
            level: 'town',
            parent: 'demo-county',
            center: { lat: 30.035, lon: 119.955 },
          },
          {
            id: 'demo-village',
            name: '千里村',
            level: 'village',
            parent: 'qianli-town',
            center: { lat: 30.042, lon: 119.951 },
          },
          {
            id: 'dongshan',
            name: '东山村',
            level: 'village',
            parent: 'qianli-town',
            center: { lat: 30.046, lon: 119.972 },
          },
          {
            id: 'xihe',
            name: '西河村',
            level: 'village',
            parent: 'qianli-town',
            center: { lat: 30.031, lon: 119.936 },
          },
          {
            id: 'nanling',
            name: '南岭村',
            level: 'village',
            parent: 'qianli-town',
            center: { lat: 30.021, lon: 119.958 },
          },
        ],
        description:
          'sites and their names; entries with a `level` (county, town, village, grid) and `parent` seed the site hierarchy on the first start (afterwards it is managed through /api/sites)',
      },
    ),
  },
  { additionalProperties: false },
);
export type HubConfig = Static<typeof HubConfigSchema>;

export const ENV_OVERRIDES: Record<string, { key: string; number?: boolean }> = {
  PORT: { key: 'port', number: true },
  HOST: { key: 'host' },
  DATA_DIR: { key: 'dataDir' },
  QLY_LOG_LEVEL: { key: 'logLevel' },
  QLY_MQTT_URL: { key: 'mqtt.url' },
  QLY_MQTT_PORT: { key: 'mqtt.embeddedPort', number: true },
  QLY_TILE_URL: { key: 'map.tileUrl' },
  QLY_TIMESERIES: { key: 'timeseries.backend' },
  QLY_STATE: { key: 'state.backend' },
  QLY_PG_URL: { key: 'state.postgres.url' },
  QLY_PG_PASSWORD_FILE: { key: 'state.postgres.passwordFile' },
  QLY_REDIS_URL: { key: 'cluster.redisUrl' },
  QLY_HUB_ID: { key: 'cluster.hubId' },
  QLY_ADVERTISE_URL: { key: 'cluster.advertiseUrl' },
  QLY_INFLUX_URL: { key: 'timeseries.influxdb.url' },
  QLY_INFLUX_DATABASE: { key: 'timeseries.influxdb.database' },
  QLY_INFLUX_USERNAME: { key: 'timeseries.influxdb.username' },
  QLY_INFLUX_PASSWORD_FILE: { key: 'timeseries.influxdb.passwordFile' },
};

export function loadHubConfig(
  path: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  overrides: object = {},
): HubConfig {
  const raw = readConfigFile(path);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(path ?? 'defaults', ['must be a JSON object']);
  const merged = raw as Record<string, unknown>;
  for (const [name, { key, number }] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(merged, key, number ? Number(value) : value);
  }
  deepAssign(merged, overrides as Record<string, unknown>);
  const config = validateConfig(HubConfigSchema, merged, path ?? 'defaults');
  const problems: string[] = [];
  if (config.cluster.redisUrl) {
    // Several hubs share state, brokers and time series: nothing of it may live inside one of them.
    if (config.state.backend !== 'postgres')
      problems.push('/cluster/redisUrl needs state.backend "postgres"');
    if (!config.mqtt.url) problems.push('/cluster/redisUrl needs an external broker (mqtt.url)');
    if (config.timeseries.backend !== 'influxdb')
      problems.push('/cluster/redisUrl needs timeseries.backend "influxdb"');
    // A token signed by one hub must verify on every other: the key cannot be generated per hub.
    if (!config.auth.jwtSecretFile)
      problems.push('/cluster/redisUrl needs auth.jwtSecretFile (one signing key shared by the hubs)');
  }
  if (problems.length > 0) throw new ConfigError(path ?? 'defaults', problems);
  return config;
}

function deepAssign(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(source)) {
    if (
      v &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      typeof target[k] === 'object' &&
      target[k] !== null
    ) {
      deepAssign(target[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else target[k] = v;
  }
}

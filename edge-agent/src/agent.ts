/**
 * The edge agent: a small controller that owns the outbox, the uplink and the device adapters.
 * Adapters report through an AdapterContext that queues contract messages in the durable outbox;
 * commands from the hub are validated and routed to the adapter, and every command gets a result.
 */

import { dirname, join, resolve } from 'node:path';
import {
  ACTIONS,
  type ActionSpec,
  AGENT_VERSION,
  actionCapability,
  type Command,
  type ConfigDeviceResult,
  type ConfigResult,
  type DeviceMeta,
  filters,
  isKnownAction,
  parseTopic,
  type RecordingClipParams,
  type Severity,
  type TelemetryValues,
  topics,
} from '@qianliyan/protocols';
import { decodePayload, validateActionParams } from '@qianliyan/protocols/validate';
import { Value } from '@sinclair/typebox/value';
import type { Logger } from 'pino';
import { discover } from './adapters/onvif-camera/discovery.ts';
import { ADAPTERS, type AdapterRegistry } from './adapters/registry.ts';
import { CommandFailure, type DeviceAdapter } from './adapters/types.ts';
import type { DeviceConfig, EdgeConfig } from './config.ts';
import { prepareConfig, readAppliedConfig, writeAppliedConfig } from './provisioning/hub-config.ts';
import type { LogRing } from './provisioning/log-ring.ts';
import type { GatewayKeyPair } from './provisioning/sealed-secrets.ts';
import { RecordingService } from './recording/recording-service.ts';
import { Outbox } from './uplink/outbox.ts';
import { Uplink } from './uplink/uplink.ts';
import { HubLink } from './video/hub-link.ts';
import { startVillage, type Village } from './village.ts';

export const EDGE_VERSION = AGENT_VERSION;

/** What an enrolled gateway adds: its key, where the hub's config is kept, its log tail, a restart. */
export interface AgentProvisioning {
  /** The key pair device secrets are sealed to (from the gateway's secret file). */
  keys?: GatewayKeyPair;
  /** Where the last applied hub config is kept (sealed, as it came). */
  hubConfigPath?: string;
  logTail?: LogRing;
  /** Called after `gateway.restart` was answered; the entry stops this agent and starts a new one. */
  onRestart?: () => void;
}

/** A device the hub configured: its opened config and the sealed form's fingerprint. */
interface HubDevice {
  config: DeviceConfig;
  fingerprint: string;
}

export class EdgeAgent {
  readonly outbox: Outbox;
  readonly uplink: Uplink;
  private readonly adapters = new Map<string, DeviceAdapter>();
  private readonly availability = new Map<string, { online: boolean; reason?: string; ts: number }>();
  private heartbeat: NodeJS.Timeout | undefined;
  private village: Village | undefined;
  private readonly hub: HubLink | undefined;
  /** Continuous recording (`recording.enabled`). */
  readonly recording: RecordingService | undefined;
  readonly counters = {
    commandsRejected: 0,
    commandsDuplicate: 0,
    adapterErrors: 0,
    configsRefused: 0,
    configsInvalid: 0,
  };
  private readonly startedAt = Date.now();
  /** Devices from the hub's config, by id (the file's devices are not in here). */
  private readonly hubDevices = new Map<string, HubDevice>();
  /** The hub config version running (0: none). */
  private configVersion = 0;
  private lastReport: Omit<ConfigResult, 'seq' | 'epoch'> | undefined;
  /** Versions are applied one at a time; the newest that arrived meanwhile waits here. */
  private applying: Promise<void> | undefined;
  private pendingConfig: Buffer | undefined;
  private stopped = false;

  constructor(
    private readonly config: EdgeConfig,
    private readonly log: Logger,
    /** The production registry, unless the entry added the simulated test devices. */
    private readonly registry: AdapterRegistry = ADAPTERS,
    private readonly provisioning: AgentProvisioning = {},
  ) {
    this.outbox = new Outbox(config.outbox);
    const { mqtt, gateway } = config;
    this.uplink = new Uplink(
      {
        url: mqtt.url,
        username: mqtt.username ?? gateway.id,
        ...(mqtt.password !== undefined ? { password: mqtt.password } : {}),
        ...(mqtt.ca !== undefined ? { ca: mqtt.ca } : {}),
        site: gateway.site,
        gateway: gateway.id,
        keepaliveS: mqtt.keepaliveS,
        reconnectMinMs: mqtt.reconnectMinMs,
        reconnectMaxMs: mqtt.reconnectMaxMs,
        inflightWindow: mqtt.inflightWindow,
      },
      this.outbox,
      log.child({ module: 'uplink' }),
    );
    // Media goes to the hub over its own port with the gateway's own credential.
    if (config.video.hubUrl)
      this.hub = new HubLink(
        config.video.hubUrl,
        mqtt.username ?? gateway.id,
        mqtt.password ?? '',
        config.video.ca,
        {
          pingMs: config.video.pushPingMs,
          deadAfterMs: config.video.pushDeadAfterMs,
          giveUpMs: config.video.pushGiveUpMs,
        },
      );
    if (config.recording.enabled) {
      const { site, id } = gateway;
      this.recording = new RecordingService(
        {
          ...config.recording,
          path: resolve(config.recording.path ?? join(dirname(resolve(config.outbox.path)), 'recordings')),
        },
        {
          index: (device, index) => this.enqueueCurrent(topics.recordings(site, id, device), index),
          event: (device, type, severity, data) =>
            this.enqueue(topics.event(site, id, device), { ts: Date.now(), type, severity, data }),
        },
        log.child({ module: 'recording' }),
      );
    }
  }

  async start(): Promise<void> {
    if (this.config.simulation)
      this.village = await startVillage(this.config.simulation, this.config.outbox.path);
    const deviceConfigs = [...this.config.devices, ...(this.village?.devices ?? [])];
    for (const deviceConfig of deviceConfigs)
      this.adapters.set(deviceConfig.id, this.createAdapter(deviceConfig));
    this.loadAppliedConfig();
    this.uplink.on('connected', () => this.announce());
    this.uplink.on('message', (topic, payload) => {
      if (parseTopic(topic)?.kind === 'config') this.onConfig(payload);
      else void this.onCommand(topic, payload);
    });
    // The heartbeat is the first row of a new outbox, before any device has sampled: the hub learns
    // the epoch from the state before anything else, though every message carries it anyway.
    this.publishState();
    this.uplink.start();
    for (const adapter of this.adapters.values()) adapter.start();
    this.recording?.start(
      [...this.adapters.values()].flatMap((adapter) => {
        const source = adapter.recordingSource?.bind(adapter);
        return source ? [{ device: adapter.id, source }] : [];
      }),
    );
    this.heartbeat = setInterval(() => {
      this.publishState();
      this.outbox.pruneCommands();
    }, this.config.heartbeatMs);
    this.log.info(
      {
        devices: this.adapters.size,
        epoch: this.outbox.epoch,
        backlog: this.outbox.depth,
      },
      'edge agent started',
    );
  }

  /**
   * Stops the devices, then gives the uplink up to `drainTimeoutMs` to empty the outbox while the
   * broker is reachable; whatever is left stays on disk for the next start.
   */
  async stop(drainTimeoutMs = this.config.drainTimeoutMs): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    await this.recording?.stop();
    await this.applying;
    await Promise.allSettled([...this.adapters.values()].map(async (adapter) => adapter.stop()));
    await this.village?.stop();
    const deadline = Date.now() + drainTimeoutMs;
    while (this.outbox.depth > 0 && this.uplink.connected && Date.now() < deadline) {
      this.uplink.pump();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (this.outbox.depth > 0)
      this.log.warn({ left: this.outbox.depth }, 'stopping with messages still in the outbox');
    await this.uplink.stop();
    this.outbox.close();
  }

  get deviceIds(): string[] {
    return [...this.adapters.keys()];
  }

  private createAdapter(deviceConfig: { type: string; id: string }): DeviceAdapter {
    const definition = Object.hasOwn(this.registry, deviceConfig.type)
      ? this.registry[deviceConfig.type]
      : undefined;
    if (!definition) throw new Error(`no adapter for device type ${deviceConfig.type}`);
    const config = Value.Default(definition.configSchema, structuredClone(deviceConfig)) as never;
    const log = this.log.child({ adapter: definition.type, device: deviceConfig.id });
    return definition.create(config, this.contextFor(deviceConfig.id, log));
  }

  /** Ids the gateway's own file (and simulation) runs: the hub's config may not reuse them. */
  private fileDeviceIds(): Set<string> {
    return new Set([...this.config.devices, ...(this.village?.devices ?? [])].map((d) => d.id));
  }

  /** At start: the last applied hub config, so the devices run even before the uplink is up. */
  private loadAppliedConfig(): void {
    const { hubConfigPath: path, keys } = this.provisioning;
    if (!path || !keys) return;
    try {
      const stored = readAppliedConfig(path);
      if (!stored) return;
      const prepared = prepareConfig(
        stored,
        this.config.gateway.id,
        keys,
        this.registry,
        this.fileDeviceIds(),
      );
      if (!prepared.ok) {
        this.log.error(
          { problems: prepared.problems },
          'the stored hub config no longer checks; waiting for the hub',
        );
        return;
      }
      for (const device of prepared.devices) {
        this.adapters.set(device.config.id, this.createAdapter(device.config));
        this.hubDevices.set(device.config.id, device);
      }
      this.configVersion = stored.version;
      this.log.info({ version: stored.version, devices: prepared.devices.length }, 'hub config loaded');
    } catch (err) {
      this.log.error({ err }, 'cannot read the stored hub config; waiting for the hub');
    }
  }

  /**
   * A config version from the hub (retained: it arrives on every connect). An older or the same
   * version is not applied again (the same one is reported again, in case the report was lost).
   */
  private onConfig(payload: Buffer): void {
    if (payload.length === 0) return; // cleared by the hub (the gateway was retired)
    if (this.applying) {
      this.pendingConfig = payload;
      return;
    }
    this.applying = this.applyConfig(payload)
      .catch((err) => this.log.error({ err }, 'config apply failed'))
      .finally(() => {
        this.applying = undefined;
        const next = this.pendingConfig;
        this.pendingConfig = undefined;
        if (next && !this.stopped) this.onConfig(next);
      });
  }

  private async applyConfig(payload: Buffer): Promise<void> {
    const decoded = decodePayload('config', payload);
    if (!decoded.ok) {
      this.counters.configsInvalid += 1;
      this.log.warn({ reason: decoded.reason, detail: decoded.detail }, 'hub config rejected: not a config');
      return;
    }
    const config = decoded.value;
    const { keys } = this.provisioning;
    if (!keys) {
      this.log.warn(
        { version: config.version },
        'hub config ignored: this gateway was not enrolled (no key)',
      );
      return;
    }
    if (config.version <= this.configVersion) {
      if (config.version === this.configVersion && this.lastReport) this.report(this.lastReport);
      return;
    }
    const prepared = prepareConfig(config, this.config.gateway.id, keys, this.registry, this.fileDeviceIds());
    if (!prepared.ok) {
      this.counters.configsRefused += 1;
      this.log.error(
        { version: config.version, problems: prepared.problems },
        'hub config refused as a whole',
      );
      this.report({
        ts: Date.now(),
        version: config.version,
        status: 'refused',
        running: this.configVersion,
        devices: [],
        problems: prepared.problems,
      });
      return;
    }
    const results: ConfigDeviceResult[] = [];
    const next = new Map(prepared.devices.map((d) => [d.config.id, d]));
    const touched: string[] = [];
    for (const [id] of this.hubDevices) {
      if (next.has(id)) continue;
      await this.stopDevice(id);
      this.hubDevices.delete(id);
      this.ctxAvailability(id, false, 'removed by the hub configuration');
      results.push({ id, outcome: 'stopped' });
    }
    for (const [id, device] of next) {
      const current = this.hubDevices.get(id);
      if (current?.fingerprint === device.fingerprint) {
        results.push({ id, outcome: 'unchanged' });
        continue;
      }
      if (current) await this.stopDevice(id);
      this.availability.delete(id);
      try {
        const adapter = this.createAdapter(device.config);
        this.adapters.set(id, adapter);
        this.hubDevices.set(id, device);
        adapter.start();
        touched.push(id);
        results.push({ id, outcome: current ? 'changed' : 'started' });
      } catch (err) {
        this.adapters.delete(id);
        this.hubDevices.delete(id);
        this.log.error({ err, device: id }, 'device could not start');
        results.push({ id, outcome: 'failed', reason: (err as Error).message.slice(0, 256) });
      }
    }
    this.configVersion = config.version;
    if (this.provisioning.hubConfigPath) writeAppliedConfig(this.provisioning.hubConfigPath, config);
    this.log.info(
      { version: config.version, results: results.map((r) => `${r.id}:${r.outcome}`) },
      'hub config applied',
    );
    this.publishState();
    if (this.uplink.connected) for (const id of touched) this.announceDevice(id);
    // Each started device gets a moment to say whether it reaches its device ("credentials refused").
    const deadline = Date.now() + this.config.provisioning.settleMs;
    while (!this.stopped && Date.now() < deadline && touched.some((id) => !this.availability.has(id)))
      await new Promise((resolve) => setTimeout(resolve, 100));
    for (const r of results) {
      const a = this.availability.get(r.id);
      if (!a || r.outcome === 'stopped' || r.outcome === 'failed') continue;
      r.online = a.online;
      if (a.reason) r.reason = a.reason;
    }
    this.report({
      ts: Date.now(),
      version: config.version,
      status: 'applied',
      running: config.version,
      devices: results,
    });
  }

  private async stopDevice(id: string): Promise<void> {
    const adapter = this.adapters.get(id);
    this.adapters.delete(id);
    try {
      await adapter?.stop();
    } catch (err) {
      this.log.error({ err, device: id }, 'device did not stop cleanly');
    }
  }

  /** Availability of a device the agent itself decides about (one the hub's config removed). */
  private ctxAvailability(id: string, online: boolean, reason: string): void {
    const { site, id: gateway } = this.config.gateway;
    const state = { online, ts: Date.now(), reason };
    this.availability.set(id, state);
    this.enqueueCurrent(topics.availability(site, gateway, id), state);
  }

  private report(body: Omit<ConfigResult, 'seq' | 'epoch'>): void {
    this.lastReport = body;
    const { site, id: gateway } = this.config.gateway;
    this.enqueue(topics.configResult(site, gateway), body);
  }

  /** Queues a message in the outbox and nudges the uplink to send it. */
  private enqueue(topic: string, body: object): void {
    this.outbox.enqueue(topic, body);
    this.uplink.pump();
  }

  /** Queues a current-state message (retained), replacing its own unsent predecessor. */
  private enqueueCurrent(topic: string, body: object): void {
    this.outbox.enqueue(topic, body, { retain: true, coalesceAbove: this.uplink.sentUpTo('control') });
    this.uplink.pump();
  }

  private contextFor(device: string, log: Logger) {
    const { site, id: gateway } = this.config.gateway;
    const telemetryTopic = topics.telemetry(site, gateway, device);
    const eventTopic = topics.event(site, gateway, device);
    const availabilityTopic = topics.availability(site, gateway, device);
    return {
      log,
      telemetry: (values: TelemetryValues, ts = Date.now()) => this.enqueue(telemetryTopic, { ts, values }),
      event: (type: string, severity: Severity, data?: Record<string, unknown>) =>
        this.enqueue(eventTopic, { ts: Date.now(), type, severity, ...(data ? { data } : {}) }),
      availability: (online: boolean, reason?: string) => {
        // A new reason while still offline is news too (unreachable → refusing reads): the hub
        // shows the current one. Unchanged reports are dropped, so a polling adapter adds nothing.
        const trimmed = reason?.slice(0, 256);
        const previous = this.availability.get(device);
        if (previous?.online === online && (online || previous.reason === trimmed)) return;
        const state = { online, ts: Date.now(), ...(trimmed ? { reason: trimmed } : {}) };
        this.availability.set(device, state);
        log.info({ online, reason }, 'device availability changed');
        this.enqueueCurrent(availabilityTopic, state);
      },
      metaChanged: () => {
        if (this.uplink.connected) this.announceDevice(device);
      },
      hub: this.hub,
      dataDir: join(dirname(resolve(this.config.outbox.path)), 'devices', device),
      cacheDir: join(dirname(resolve(this.config.outbox.path)), 'cache'),
    };
  }

  /** On every (re)connect: subscribe to commands, publish state and every device's meta (retained). */
  private announce(): void {
    const { site, id: gateway } = this.config.gateway;
    this.uplink.subscribe(filters.gatewayCommands(site, gateway));
    if (this.provisioning.keys) this.uplink.subscribe(filters.gatewayConfig(site, gateway));
    this.publishState();
    for (const id of this.adapters.keys()) this.announceDevice(id);
    this.uplink.pump();
  }

  /** The descriptor (retained) and then the availability of one device. */
  private announceDevice(id: string): void {
    const { site, id: gateway } = this.config.gateway;
    const adapter = this.adapters.get(id);
    if (adapter) {
      const descriptor = adapter.describe();
      const commands = Object.keys(adapter.actions ?? {}).map(actionCapability);
      const meta: Omit<DeviceMeta, 'seq' | 'epoch'> = {
        ts: Date.now(),
        ...descriptor,
        capabilities: [...new Set([...descriptor.capabilities, ...commands])],
      };
      const metaSeq = this.outbox.enqueue(topics.meta(site, gateway, id), meta, {
        retain: true,
        coalesceAbove: this.uplink.sentUpTo('control'),
      });
      // Availability follows its descriptor (the hub ignores it for a device it does not know yet).
      // It replaces only its own row queued after that descriptor, so a flapping link adds nothing.
      const availability = this.availability.get(id);
      if (availability)
        this.outbox.enqueue(topics.availability(site, gateway, id), availability, {
          retain: true,
          coalesceAbove: Math.max(metaSeq, this.uplink.sentUpTo('control')),
        });
      this.uplink.pump();
    }
  }

  private publishState(): void {
    const { site, id: gateway } = this.config.gateway;
    this.enqueueCurrent(topics.state(site, gateway), {
      ts: Date.now(),
      online: true,
      version: EDGE_VERSION,
      heartbeatMs: this.config.heartbeatMs,
      devices: this.deviceIds,
      startedAt: this.startedAt,
      configVersion: this.configVersion,
      outbox: { depth: this.outbox.depth, dropped: this.outbox.dropped },
      ...(this.recording ? { recording: this.recording.health() } : {}),
    });
  }

  /** Actions addressed to the gateway itself. */
  private readonly gatewayActions: Partial<
    Record<string, (params: Record<string, unknown>) => Promise<unknown>>
  > = {
    ping: async () => ({ version: EDGE_VERSION, devices: this.adapters.size }),
    'recording.clip': async (params) => {
      if (!this.recording)
        throw new CommandFailure('EDGE_ERR_NOT_RECORDED', 'this gateway does not record (recording.enabled)');
      return this.recording.clip(params as RecordingClipParams, this.hub);
    },
    'gateway.restart': async () => {
      const restart = this.provisioning.onRestart;
      if (!restart) throw new CommandFailure('EDGE_ERR_UNSUPPORTED', 'this agent cannot restart itself');
      // After the answer is queued: the stop drains the outbox, so the hub gets it first.
      setTimeout(restart, 200);
      return { restarting: true, version: EDGE_VERSION };
    },
    'gateway.logs': async (params) => ({
      lines: this.provisioning.logTail?.tail(params.lines as number) ?? [],
    }),
    // The gateway is the hub's WS-Discovery proxy: multicast does not cross the uplink.
    'camera.discover': async (params) => {
      const targets = [
        ...this.config.video.discoveryTargets,
        ...((params.targets as string[] | undefined) ?? []),
      ];
      const found = await discover({ timeoutMs: params.timeoutMs as number, targets, multicast: true });
      const configured = new Map<string, string>();
      const hubDevices = [...this.hubDevices.values()].map((d) => d.config);
      for (const d of [...this.config.devices, ...(this.village?.devices ?? []), ...hubDevices] as Record<
        string,
        unknown
      >[])
        if (typeof d.xaddr === 'string') configured.set(d.xaddr, String(d.id));
      return {
        cameras: found.slice(0, 64).map((c) => {
          const device = c.xaddrs.map((x) => configured.get(x)).find(Boolean);
          return {
            endpoint: c.endpoint.slice(0, 128),
            xaddrs: c.xaddrs.slice(0, 4).map((x) => x.slice(0, 256)),
            ...(c.hardware ? { hardware: c.hardware.slice(0, 64) } : {}),
            ...(c.name ? { name: c.name.slice(0, 64) } : {}),
            ptz: c.ptz,
            ...(device ? { device } : {}),
          };
        }),
      };
    },
  };

  private async onCommand(topic: string, payload: Buffer): Promise<void> {
    const { site, id: gateway } = this.config.gateway;
    const parsed = parseTopic(topic);
    if (parsed?.kind !== 'cmd' || parsed.gateway !== gateway) return;
    const decoded = decodePayload('cmd', payload);
    if (!decoded.ok) {
      this.counters.commandsRejected += 1;
      this.log.warn({ reason: decoded.reason, detail: decoded.detail }, 'command rejected');
      return;
    }
    const command: Command = decoded.value;
    // At most once per id: MQTT redelivers a command whose PUBACK was lost, and moving a PTZ or
    // starting a broadcast twice is worse than answering once. The result is in the outbox already.
    if (!this.outbox.claimCommand(command.id, command.deadline)) {
      this.counters.commandsDuplicate += 1;
      this.log.info({ id: command.id }, 'command already executed; redelivery ignored');
      return;
    }
    const started = Date.now();
    const reply = (body: object) =>
      this.enqueue(topics.cmdResult(site, gateway), { ts: Date.now(), id: command.id, ...body });
    const fail = (code: string, message: string) => reply({ status: 'error', error: { code, message } });
    if (command.deadline < started)
      return fail('EDGE_ERR_DEADLINE_PASSED', 'the command arrived after its deadline');
    if (!isKnownAction(command.action))
      return fail('EDGE_ERR_UNSUPPORTED', `unknown action ${command.action}`);
    const spec: ActionSpec = ACTIONS[command.action];
    let handler: ((params: Record<string, unknown>) => Promise<unknown>) | undefined;
    let target = 'gateway';
    if (spec.scope === 'gateway') {
      if (command.device) return fail('EDGE_ERR_BAD_PARAMS', `${command.action} is a gateway action`);
      handler = this.gatewayActions[command.action];
      if (!handler) return fail('EDGE_ERR_UNSUPPORTED', `this gateway does not take ${command.action}`);
    } else {
      const adapter = command.device ? this.adapters.get(command.device) : undefined;
      if (!adapter)
        return fail('EDGE_ERR_UNKNOWN_DEVICE', `no device ${command.device ?? '(none)'} on this gateway`);
      handler = adapter.actions?.[command.action];
      if (!handler)
        return fail('EDGE_ERR_UNSUPPORTED', `device ${adapter.id} does not take ${command.action}`);
      target = adapter.id;
    }
    const params = validateActionParams(command.action, command.params ?? {});
    if (!params.ok) return fail('EDGE_ERR_BAD_PARAMS', params.detail);
    const budget = Math.max(0, command.deadline - started);
    let timer: NodeJS.Timeout | undefined;
    try {
      const data = await Promise.race([
        handler(params.value),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new CommandFailure('EDGE_ERR_TIMEOUT', `no answer from the device within ${budget} ms`)),
            budget,
          );
        }),
      ]);
      reply({ status: 'ok', ...(data === undefined ? {} : { data }) });
    } catch (err) {
      this.counters.adapterErrors += 1;
      this.log.error({ err, action: command.action, device: target }, 'command failed');
      fail(err instanceof CommandFailure ? err.code : 'EDGE_ERR_COMMAND_FAILED', (err as Error).message);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * The hub's one typed event bus (after zigbee2mqtt's `lib/eventBus.ts`). Services announce what
 * happened here instead of calling each other. Each listener is registered under a name and runs
 * in its own try/catch: a listener that throws is logged (at most once a second per listener) and
 * counted in `qly_bus_listener_errors_total{event,listener}`, and the other listeners, and the
 * emitter, carry on. An emitter never sees a listener's failure, so accepted data is always stored.
 *
 * One generic `on`/`emit` pair typed by the event map replaces zigbee2mqtt's emitX/onX pairs: the
 * map below is the list of events, and the compiler checks each payload against it.
 */
import type {
  AlarmView,
  BroadcastView,
  CallView,
  CommandResult,
  ConfigResult,
  IncidentCreate,
  IncidentView,
  LinkagePlan,
  NotifyReason,
  RecordingIndex,
  Severity,
  TelemetryValues,
} from '@qianliyan/protocols';
import type { FastifyBaseLogger } from 'fastify';
import type { HubMetrics } from './metrics.ts';

export interface CommandFinished {
  id: string;
  username: string;
  gateway: string;
  device: string | null;
}

/**
 * An incident a linkage rule asks for, at a site. Defined here, not taken from the incident service:
 * the bus is below every service, so it imports none of them (hub/test/architecture.test.ts).
 */
export type IncidentRequest = Omit<IncidentCreate, 'site'> & { site: string };

export interface BusEvents {
  /** A device's live view changed (descriptor, values, status). */
  deviceChanged: { key: string };
  /** A device's telemetry was accepted (rules on readings evaluate it). */
  readings: { key: string; site: string; kind: string; ts: number; values: TelemetryValues };
  /** A device reported a new position (a drone moving). */
  positionChanged: { key: string; site: string; kind: string; lat: number; lon: number };
  /** A gateway's live view changed (online, heartbeat, outbox). */
  gatewayChanged: { id: string };
  /** A gateway and its devices were deleted by an administrator. */
  /** A gateway was registered or given a new credential (`remote`: on another hub of the cluster). */
  gatewayRegistered: { id: string; site: string; remote?: boolean };
  gatewayRemoved: { id: string; site: string; devices: string[]; remote?: boolean };
  /** A gateway's MQTT credential was issued again or deleted: its live session must end. */
  gatewayCredentialsChanged: { id: string };
  /** A gateway answered a command (any hub's: results are matched by id). */
  /** `remote`: ingested by another hub of the cluster and relayed here (cluster/fanout.ts). */
  commandResult: { gateway: string; result: CommandResult; remote?: boolean };
  /** A gateway reported what it did with a config version (provisioning.ts). */
  configReported: { gateway: string; result: ConfigResult };
  /** A command reached a final state (ok, error, timeout). */
  commandFinished: CommandFinished;
  /** Sessions ended: one (`sid`) or every session of a user (`username`). */
  /** `remote`: revoked on another hub of the cluster and relayed here. */
  sessionsRevoked: { sid?: string; username?: string; remote?: boolean };
  /** A gateway reported what it holds of one camera's recording (`…/dev/{device}/recordings`). */
  recordingIndex: { site: string; gateway: string; device: string; index: RecordingIndex };
  /** A device reported an event (or the hub raised one about it), after it was accepted. */
  deviceEvent: {
    key: string;
    site: string;
    ts: number;
    type: string;
    severity: Severity;
    data: Record<string, unknown> | undefined;
    /** The event's identity at its gateway (absent for the hub's own events): alarms count it once. */
    origin?: { gateway: string; epoch: string; seq: number };
  };
  /** An alarm was raised, repeated, acknowledged, cleared, re-notified or escalated. */
  alarmChanged: { alarm: AlarmView };
  /** An alarm should reach people beyond the screen: new, re-notified (step n) or escalated (level n). */
  alarmNotify: { alarm: AlarmView; reason: NotifyReason; step: number };
  /** A broadcast's state or a speaker's delivery changed. */
  broadcastChanged: { broadcast: BroadcastView };
  /** A linkage rule matched a new alarm and wants an incident for it. */
  incidentRequested: { rule: string; alarm: AlarmView; incident: IncidentRequest };
  /** An incident was created for a rule (its linkage plan runs next). */
  incidentCreated: { incident: IncidentView; rule: string | null; alarm?: AlarmView };
  /** An incident was created or changed (state, SLA marks, timeline). */
  incidentChanged: { incident: IncidentView };
  /** A linkage plan ran: cameras to open, PTZ presets sent, a broadcast started or proposed. */
  linkageExecuted: { plan: LinkagePlan; by: string };
  /** A call rang, was answered, joined, left or ended. */
  callChanged: { call: CallView };
}

type Listener<K extends keyof BusEvents> = (payload: BusEvents[K]) => void;

export class EventBus {
  private readonly listeners = new Map<keyof BusEvents, Array<{ name: string; fn: Listener<never> }>>();
  private readonly lastErrorLog = new Map<string, number>();

  constructor(
    private readonly metrics: HubMetrics,
    private readonly log: FastifyBaseLogger,
  ) {}

  /** Registers `fn` under `name` (the metrics label); returns a function that removes it. */
  on<K extends keyof BusEvents>(event: K, name: string, fn: Listener<K>): () => void {
    const list = this.listeners.get(event) ?? [];
    const entry = { name, fn: fn as Listener<never> };
    list.push(entry);
    this.listeners.set(event, list);
    return () => {
      const current = this.listeners.get(event) ?? [];
      this.listeners.set(
        event,
        current.filter((e) => e !== entry),
      );
    };
  }

  emit<K extends keyof BusEvents>(event: K, payload: BusEvents[K]): void {
    for (const { name, fn } of this.listeners.get(event) ?? []) {
      try {
        (fn as Listener<K>)(payload);
      } catch (err) {
        this.metrics.busListenerErrors.inc({ event, listener: name });
        const key = `${event}/${name}`;
        const now = Date.now();
        if (now - (this.lastErrorLog.get(key) ?? 0) >= 1000) {
          this.lastErrorLog.set(key, now);
          this.log.error({ err, event, listener: name }, 'event listener failed');
        }
      }
    }
  }
}

/** Prometheus metrics of one hub instance (its own registry, so several apps can run in one process). */
import { REJECT_REASONS, type TopicKind } from '@qianliyan/protocols';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { BROKER_REFUSALS } from '../mqtt/broker-refusals.ts';
import { VIDEO_REFUSALS } from '../video/refusals.ts';

/** Why loudspeaker traffic was refused (`qly_audio_refused_total`). */
export const AUDIO_REFUSALS = [
  'talk_token', // a live-talk socket without a valid, unused token
  'talk_unauthenticated', // a live-talk socket without a live login session in its subprotocols
  'talk_other_session', // a talk token presented by a session other than the one it was issued to
  'talk_scope', // a talk token whose speakers are no longer in the presenter's scope
  'talk_session_ended', // a microphone closed because its login session ended
  'talk_frame', // not 16-bit PCM in binary frames of at most a second
  'talk_rate', // faster than real time
  'talk_gateway', // a gateway's talk socket without credentials or for a session not its own
  'talk_gateway_sent', // a gateway sending on its listening socket
  'clip_not_audio', // an upload that is not WAV, MP3 or Ogg, or does not decode
  'clip_too_large', // an upload over MAX_CLIP_UPLOAD_BYTES
  'clip_fetch', // a clip fetch without gateway credentials
] as const;

/** Why an enrolment was refused; each a label of qly_enrol_refused_total. */
export const ENROL_REFUSALS = [
  'unknown_code',
  'used_code',
  'expired_code',
  'foreign_hub',
  'malformed',
  'throttled',
] as const;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'qly_hub_' });
  const metrics = {
    registry,
    ingested: new Counter({
      name: 'qly_ingest_messages_total',
      help: 'MQTT messages accepted by ingest, by topic kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'qly_ingest_rejected_total',
      help: 'MQTT messages rejected by ingest, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    gaps: new Counter({
      name: 'qly_ingest_seq_gaps_total',
      help: 'messages missing from gateway seq sequences',
      registers: [registry],
    }),
    storeRows: new Counter({
      name: 'qly_store_rows_total',
      help: 'telemetry and event rows written',
      registers: [registry],
    }),
    storeLatency: new Histogram({
      name: 'qly_store_write_seconds',
      help: 'time to write one batch to the time-series store',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    storeBatches: new Counter({
      name: 'qly_store_batches_total',
      help: 'batches written to the time-series store (rows per batch = qly_store_rows_total / this)',
      registers: [registry],
    }),
    storeFailures: new Counter({
      name: 'qly_store_write_failures_total',
      help: 'batches the time-series store refused (kept and retried; their messages stay unacknowledged)',
      registers: [registry],
    }),
    storeDiskFull: new Gauge({
      name: 'qly_store_disk_full',
      help: '1 while the time-series store refuses writes because its disk is full (nothing acknowledged meanwhile; retried until space returns)',
      registers: [registry],
    }),
    ingestErrors: new Counter({
      name: 'qly_ingest_apply_errors_total',
      help: 'failures while applying an accepted message to live state, by step (the data is stored anyway)',
      labelNames: ['step'] as const,
      registers: [registry],
    }),
    clusterFanout: new Counter({
      name: 'qly_cluster_fanout_total',
      help: 'hub-to-hub messages through Redis (registry, live, revoked, cmdResult), by direction',
      labelNames: ['event', 'direction'] as const,
      registers: [registry],
    }),
    busListenerErrors: new Counter({
      name: 'qly_bus_listener_errors_total',
      help: 'event-bus listeners that threw, by event and listener',
      labelNames: ['event', 'listener'] as const,
      registers: [registry],
    }),
    ingestSaturated: new Gauge({
      name: 'qly_ingest_saturated',
      help: '1 while the store backlog is full and the hub takes no messages',
      registers: [registry],
    }),
    storeBacklog: new Gauge({
      name: 'qly_store_backlog_rows',
      help: 'rows waiting to be written',
      registers: [registry],
    }),
    socketClients: new Gauge({
      name: 'qly_socket_clients',
      help: 'connected dashboard sockets',
      registers: [registry],
    }),
    socketRefused: new Counter({
      name: 'qly_socket_refused_total',
      help: 'dashboard sockets refused or closed, and subscriptions refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    gatewaysOnline: new Gauge({
      name: 'qly_gateways_online',
      help: 'gateways currently online',
      registers: [registry],
    }),
    alarmTaskErrors: new Counter({
      name: 'qly_alarm_task_errors_total',
      help: 'alarm scheduler tasks that threw (re-notify, escalation, rules, notifications), by task',
      labelNames: ['task'] as const,
      registers: [registry],
    }),
    healthTransitions: new Counter({
      name: 'qly_health_transitions_total',
      help: 'device and gateway health changes seen by the hub, by kind and direction',
      labelNames: ['kind', 'online'] as const,
      registers: [registry],
    }),
    ruleEvaluations: new Counter({
      name: 'qly_rule_evaluations_total',
      help: 'readings evaluated against rules on readings',
      registers: [registry],
    }),
    ruleFires: new Counter({
      name: 'qly_rule_fires_total',
      help: 'rules on readings that fired (raised or reopened an alarm)',
      registers: [registry],
    }),
    notifications: new Counter({
      name: 'qly_notifications_total',
      help: 'notification delivery outcomes, by channel type and status',
      labelNames: ['channel', 'status'] as const,
      registers: [registry],
    }),
    httpRejected: new Counter({
      name: 'qly_http_rejected_total',
      help: 'REST requests answered with an error, by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    commands: new Counter({
      name: 'qly_commands_total',
      help: 'commands by outcome: sent, refused (before sending), ok, error, timeout',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    commandResults: new Counter({
      name: 'qly_command_results_total',
      help: 'command results received: matched, late (after timeout), unknown id, wrong_gateway',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    loginFailures: new Counter({
      name: 'qly_login_failures_total',
      help: 'failed logins',
      registers: [registry],
    }),
    loginThrottled: new Counter({
      name: 'qly_login_throttled_total',
      help: 'login attempts refused for a locked (address, username) pair (locked) or slowed for a username under attack (delayed)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    brokerRefused: new Counter({
      name: 'qly_broker_refused_total',
      help: 'what the embedded broker refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    enrolRefused: new Counter({
      name: 'qly_enrol_refused_total',
      help: 'refused gateway enrolments, by reason (unknown_code, used_code, expired_code, foreign_hub, malformed, throttled)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    adminRefused: new Counter({
      name: 'qly_admin_refused_total',
      help: 'requests to provisioning and fleet routes refused for a role that is not admin, by route',
      labelNames: ['route'] as const,
      registers: [registry],
    }),
    enrolled: new Counter({
      name: 'qly_enrolled_total',
      help: 'gateways enrolled with a one-time code',
      registers: [registry],
    }),
    configReports: new Counter({
      name: 'qly_gateway_config_reports_total',
      help: 'gateway reports on config versions, by status (applied, refused)',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    gatewaysOutdated: new Gauge({
      name: 'qly_gateways_outdated',
      help: 'gateways reporting an edge-agent version below fleet.minAgentVersion (as of the last fleet report)',
      registers: [registry],
    }),
    mqttAuthFailures: new Counter({
      name: 'qly_mqtt_auth_failures_total',
      help: 'refused MQTT connections',
      registers: [registry],
    }),
    audioRefused: new Counter({
      name: 'qly_audio_refused_total',
      help: 'refused loudspeaker traffic (live-talk sockets, clip uploads and fetches), by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    videoRefused: new Counter({
      name: 'qly_video_refused_total',
      help: 'refused video requests (viewer sockets, gateway pushes, snapshots), by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    videoBytes: new Counter({
      name: 'qly_video_bytes_total',
      help: 'video bytes received from sources (in) and sent to viewers (out)',
      labelNames: ['direction'] as const,
      registers: [registry],
    }),
    videoRelays: new Gauge({
      name: 'qly_video_relays',
      help: 'camera streams being relayed now',
      registers: [registry],
    }),
    videoViewers: new Gauge({
      name: 'qly_video_viewers',
      help: 'video viewer sockets open now',
      registers: [registry],
    }),
    videoTranscodes: new Gauge({
      name: 'qly_video_transcodes',
      help: 'H.264 transcoders running now (H.265 cameras watched in browsers without H.265)',
      registers: [registry],
    }),
    videoTranscodesStarted: new Counter({
      name: 'qly_video_transcodes_started_total',
      help: 'H.264 transcoders started (refusals for want of a slot count in qly_video_refused_total{reason="transcode_limit"})',
      registers: [registry],
    }),
    videoFfmpeg: new Gauge({
      name: 'qly_video_ffmpeg_processes',
      help: 'ffmpeg children of this hub alive now',
      registers: [registry],
    }),
    socketConflated: new Counter({
      name: 'qly_socket_conflated_total',
      help: 'deltas held back from a dashboard socket that had not taken the previous one (its latest state follows when it catches up)',
      registers: [registry],
    }),
    influxSent: new Counter({
      name: 'qly_influx_points_sent_total',
      help: 'points InfluxDB accepted',
      registers: [registry],
    }),
    influxDropped: new Counter({
      name: 'qly_influx_points_dropped_total',
      help: 'points InfluxDB refused for good (field type conflict, unparsable), by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    influxSendErrors: new Counter({
      name: 'qly_influx_send_errors_total',
      help: 'failed InfluxDB writes (retried), by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    influxOverflow: new Counter({
      name: 'qly_influx_overflow_total',
      help: 'points refused because the spool was full (left unacknowledged, not lost)',
      registers: [registry],
    }),
    influxBuffered: new Gauge({
      name: 'qly_influx_buffered_points',
      help: 'points in the local spool waiting for InfluxDB',
      registers: [registry],
    }),
  };
  for (const reason of ['field_type_conflict', 'refused']) metrics.influxDropped.inc({ reason }, 0);
  for (const reason of ['unreachable', 'timeout', 'unauthorized'])
    metrics.influxSendErrors.inc({ reason }, 0);
  for (const reason of VIDEO_REFUSALS) metrics.videoRefused.inc({ reason }, 0);
  for (const reason of ENROL_REFUSALS) metrics.enrolRefused.inc({ reason }, 0);
  for (const reason of AUDIO_REFUSALS) metrics.audioRefused.inc({ reason }, 0);
  // Pre-create every label value so a reason shows as 0 before its first occurrence.
  for (const reason of REJECT_REASONS) metrics.rejected.inc({ reason }, 0);
  for (const reason of BROKER_REFUSALS) metrics.brokerRefused.inc({ reason }, 0);
  for (const reason of ['locked', 'delayed']) metrics.loginThrottled.inc({ reason }, 0);
  for (const outcome of ['sent', 'refused', 'ok', 'error', 'timeout']) metrics.commands.inc({ outcome }, 0);
  for (const kind of ['matched', 'late', 'unknown', 'wrong_gateway']) metrics.commandResults.inc({ kind }, 0);
  for (const reason of [
    'unauthorized',
    'revoked',
    'expired',
    'subscribe_rate',
    'call_invalid',
    'call_rate',
    'call_bytes',
    'call_start_rate',
    'call_ringing',
  ])
    metrics.socketRefused.inc({ reason }, 0);
  for (const kind of [
    'state',
    'meta',
    'availability',
    'recordings',
    'telemetry',
    'event',
    'cmdResult',
  ] satisfies TopicKind[])
    metrics.ingested.inc({ kind }, 0);
  return metrics;
}
export type HubMetrics = ReturnType<typeof createMetrics>;

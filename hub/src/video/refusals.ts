/** Why the hub refused a video request; each is a `qly_video_refused_total` label. */
export const VIDEO_REFUSALS = [
  'no_token',
  'bad_token',
  'expired_token',
  'token_reused', // a stream token opens one socket, once
  'session_ended',
  'other_camera',
  'out_of_scope',
  'no_such_stream',
  'too_many_viewers',
  'too_many_relays',
  'bad_format',
  'viewer_message',
  'push_unauthorized',
  'push_no_session',
  'push_wrong_gateway',
  'push_oversize',
  'push_rate',
  'push_message_rate',
  'push_gateway_rate',
  'push_gateway_memory',
  'push_cpu_budget',
  'push_bad_media',
  'snapshot_unauthorized',
  'snapshot_user_limit', // one user's snapshots in progress at video.maxSnapshotsPerUser
  'snapshot_busy', // the hub's snapshots in progress at video.maxSnapshots
  'snapshot_no_upload',
  'snapshot_not_jpeg',
  'transcode_limit', // an H.265 camera for a browser without H.265, and video.maxTranscodes running
  'peer_bad_token', // another hub's relay request without a valid hub relay token
  'peer_not_holder', // another hub asked this one for a stream it does not stream (a stale holder row)
] as const;
export type VideoRefusal = (typeof VIDEO_REFUSALS)[number];

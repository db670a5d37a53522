/** Why the hub refused a video request; each is a `qly_video_refused_total` label. */
export const VIDEO_REFUSALS = [
  'no_token',
  'bad_token',
  'expired_token',
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
  'snapshot_unauthorized',
  'snapshot_no_upload',
  'snapshot_not_jpeg',
] as const;
export type VideoRefusal = (typeof VIDEO_REFUSALS)[number];

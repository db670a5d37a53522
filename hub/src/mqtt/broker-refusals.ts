/** Why the embedded broker refused something: the label of `qly_broker_refused_total`. */
export const BROKER_REFUSALS = [
  'bad_credentials',
  'connect_rate',
  'connect_throttled',
  'oversize_packet',
  'publish_acl',
  'retained_refused',
  'device_quota',
  'rate_limited',
  'subscribe_acl',
] as const;
export type BrokerRefusal = (typeof BROKER_REFUSALS)[number];

/**
 * The contract's main entry: schemas, types, topics, the action catalog and the live channel.
 * Validators (the schema compiler) live behind `@qianliyan/protocols/validate`, so the dashboard
 * bundle does not ship the compiler.
 */
export * from './access.ts';
export * from './actions.ts';
export * from './alarms.ts';
export * from './audio.ts';
export * from './errors.ts';
export * from './incidents.ts';
export * from './limits.ts';
export * from './live.ts';
export * from './live-topics.ts';
export * from './provisioning.ts';
export * from './recording.ts';
export * from './rest.ts';
export * from './schemas.ts';
export * from './sites.ts';
export * from './timestamp-code.ts';
export * from './topics.ts';
export * from './video.ts';

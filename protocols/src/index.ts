export * from './live.ts';
export * from './schemas.ts';
export * from './topics.ts';
export * from './validate.ts';

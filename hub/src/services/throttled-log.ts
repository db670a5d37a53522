/** The hub's throttled log lines: the shared helper (protocols/src/throttled-log.ts). */
export { ThrottledLog } from '@qianliyan/protocols/throttled-log';

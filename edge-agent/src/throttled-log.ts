/**
 * The edge's throttled log lines (a LAN host sending thousands of forged datagrams a second makes
 * one line per interval): the shared helper, protocols/src/throttled-log.ts.
 */
export { ThrottledLog } from '@qianliyan/protocols/throttled-log';

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topics } from '@qianliyan/protocols';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/uplink/outbox.ts';

const tempPath = () => join(mkdtempSync(join(tmpdir(), 'qly-outbox-')), 'outbox.db');
const T = topics.telemetry('v', 'gw', 'd');
const E = topics.event('v', 'gw', 'd');
const S = topics.state('v', 'gw');
const seqs = (box: Outbox, lane: 'control' | 'bulk') => box.peek(lane, 0, 1000).map((r) => r.seq);

describe('Outbox', () => {
  it('assigns increasing seqs per lane and puts seq and epoch first in the payload', () => {
    const box = new Outbox({ path: tempPath(), maxMessages: 100, fsync: false });
    expect(box.enqueue(T, { ts: 1, values: { x: 1 } })).toBe(1);
    expect(box.enqueue(S, { ts: 2 }, { retain: true })).toBe(1);
    expect(box.enqueue(T, { ts: 3, values: { x: 2 } })).toBe(2);
    expect(box.epoch).toMatch(/^[A-Za-z0-9_-]{12}$/);
    const bulk = box.peek('bulk', 0, 10);
    expect(bulk.map((r) => [r.seq, r.topic, r.retain])).toEqual([
      [1, T, false],
      [2, T, false],
    ]);
    expect(bulk[0]?.payload.toString()).toBe(`{"seq":1,"epoch":"${box.epoch}","ts":1,"values":{"x":1}}`);
    expect(box.peek('control', 0, 10).map((r) => [r.seq, r.topic, r.retain])).toEqual([[1, S, true]]);
    expect(box.peek('bulk', 1, 10).map((r) => r.seq)).toEqual([2]);
    box.close();
  });

  it('keeps rows, seq counters and epoch across a reopen; acked rows are gone', () => {
    const path = tempPath();
    const a = new Outbox({ path, maxMessages: 100, fsync: false });
    for (let i = 0; i < 5; i++) a.enqueue(T, { i });
    a.enqueue(E, { i: 0 });
    a.ack([
      { lane: 'bulk', seq: 1 },
      { lane: 'bulk', seq: 2 },
    ]);
    const epoch = a.epoch;
    a.close();
    const b = new Outbox({ path, maxMessages: 100, fsync: false });
    expect(b.epoch).toBe(epoch);
    expect(b.depth).toBe(4);
    expect(seqs(b, 'bulk')).toEqual([3, 4, 5]);
    expect(b.enqueue(T, {})).toBe(6);
    expect(b.enqueue(E, {})).toBe(2);
    b.ack([3, 4, 5, 6].map((seq) => ({ lane: 'bulk' as const, seq })));
    b.ack([
      { lane: 'control', seq: 1 },
      { lane: 'control', seq: 2 },
    ]);
    b.close();
    // seq never restarts while the file lives, even when the outbox is empty
    const c = new Outbox({ path, maxMessages: 100, fsync: false });
    expect(c.depth).toBe(0);
    expect(c.nextSeqOf('bulk')).toBe(7);
    expect(c.nextSeqOf('control')).toBe(3);
    c.close();
  });

  it('drops the oldest telemetry beyond its bound and counts it, but never a control row', () => {
    const path = tempPath();
    const box = new Outbox({ path, maxMessages: 10, fsync: false });
    box.enqueue(E, { type: 'alarm' });
    for (let i = 0; i < 25; i++) box.enqueue(T, { i });
    box.enqueue(E, { type: 'result' });
    expect(box.laneDepth('bulk')).toBe(10);
    expect(box.laneDropped('bulk')).toBe(15);
    expect(box.dropped).toBe(15);
    expect(seqs(box, 'bulk')).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(seqs(box, 'control')).toEqual([1, 2]);
    box.close();
    const again = new Outbox({ path, maxMessages: 10, fsync: false });
    expect(again.dropped).toBe(15);
    again.close();
  });

  it('drops the oldest telemetry beyond its byte bound and keeps the byte count across a reopen', () => {
    const path = tempPath();
    const body = { ts: 1, values: { blob: 'x'.repeat(90) } }; // ~140 bytes a message with seq and epoch
    const box = new Outbox({ path, maxMessages: 1000, maxBytes: 1400, fsync: false });
    for (let i = 0; i < 30; i++) box.enqueue(T, body);
    const rows = box.peek('bulk', 0, 100);
    const size = rows.reduce((n, r) => n + r.payload.length, 0);
    expect(box.size).toBe(size);
    expect(size).toBeLessThanOrEqual(1400);
    expect(box.depth + box.dropped).toBe(30);
    expect(rows.at(-1)?.seq).toBe(30); // the newest are kept
    box.ack([{ lane: 'bulk', seq: rows[0]?.seq as number }]);
    const afterAck = box.size;
    expect(afterAck).toBe(size - (rows[0]?.payload.length ?? 0));
    box.close();
    const again = new Outbox({ path, maxMessages: 1000, maxBytes: 1400, fsync: false });
    expect(again.size).toBe(afterAck);
    again.close();
  });

  it('coalesces unsent current-state rows in place, keeping their seq, but never one already sent', () => {
    const box = new Outbox({ path: tempPath(), maxMessages: 100, fsync: false });
    expect(box.enqueue(S, { ts: 1, online: true }, { retain: true, coalesceAbove: 0 })).toBe(1);
    expect(box.enqueue(E, { type: 'x' })).toBe(2);
    // 100 heartbeats while offline: one row, the latest content, still seq 1.
    for (let i = 2; i <= 100; i++)
      box.enqueue(S, { ts: i, online: true }, { retain: true, coalesceAbove: 0 });
    const control = box.peek('control', 0, 10);
    expect(control.map((r) => r.seq)).toEqual([1, 2]);
    expect(JSON.parse(control[0]?.payload.toString() ?? '{}')).toMatchObject({ seq: 1, ts: 100 });
    // Once seq 1 is handed to the broker, the next heartbeat is a new row.
    expect(box.enqueue(S, { ts: 101, online: true }, { retain: true, coalesceAbove: 1 })).toBe(3);
    box.close();
  });

  it('a new file is a new epoch', () => {
    const a = new Outbox({ path: tempPath(), maxMessages: 10, fsync: false });
    const b = new Outbox({ path: tempPath(), maxMessages: 10, fsync: false });
    expect(a.epoch).not.toBe(b.epoch);
    a.close();
    b.close();
  });

  it('claims a command id once, until its deadline has long passed', () => {
    const box = new Outbox({ path: tempPath(), maxMessages: 10, fsync: false });
    const now = Date.now();
    expect(box.claimCommand('c-1', now + 5000)).toBe(true);
    expect(box.claimCommand('c-1', now + 5000)).toBe(false);
    expect(box.claimCommand('c-old', now - 120_000)).toBe(true);
    box.pruneCommands(now);
    expect(box.claimCommand('c-1', now + 5000)).toBe(false);
    expect(box.claimCommand('c-old', now - 120_000)).toBe(true);
    box.close();
  });

  it('migrates a version-1 file: unsent rows re-sequenced into lanes under a new epoch', () => {
    const path = tempPath();
    const v1 = new Database(path);
    v1.exec(`CREATE TABLE outbox (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, retain INTEGER NOT NULL);
             CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO meta VALUES ('epoch', 'old-uuid'), ('next_seq', '43');`);
    const insert = v1.prepare('INSERT INTO outbox VALUES (?, ?, ?, ?)');
    insert.run(40, T, Buffer.from('{"seq":40,"ts":1,"values":{"a":1}}'), 0);
    insert.run(41, S, Buffer.from('{"seq":41,"ts":2,"online":true}'), 1);
    insert.run(42, T, Buffer.from('{"seq":42,"ts":3,"values":{"a":2}}'), 0);
    v1.close();
    const box = new Outbox({ path, maxMessages: 100, fsync: false });
    expect(box.epoch).not.toBe('old-uuid');
    const bulk = box.peek('bulk', 0, 10).map((r) => JSON.parse(r.payload.toString()));
    expect(bulk).toEqual([
      { seq: 1, epoch: box.epoch, ts: 1, values: { a: 1 } },
      { seq: 2, epoch: box.epoch, ts: 3, values: { a: 2 } },
    ]);
    const control = box.peek('control', 0, 10);
    expect(control.map((r) => [r.seq, r.retain])).toEqual([[1, true]]);
    box.close();
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/uplink/outbox.ts';

const tempPath = () => join(mkdtempSync(join(tmpdir(), 'qly-outbox-')), 'outbox.db');

describe('Outbox', () => {
  it('assigns increasing seqs and puts seq first in the payload', () => {
    const box = new Outbox({ path: tempPath(), maxMessages: 100, fsync: false });
    expect(box.enqueue('t/a', { ts: 1, values: { x: 1 } })).toBe(1);
    expect(box.enqueue('t/b', { ts: 2 }, true)).toBe(2);
    const rows = box.peek(0, 10);
    expect(rows.map((r) => [r.seq, r.topic, r.retain])).toEqual([
      [1, 't/a', false],
      [2, 't/b', true],
    ]);
    expect(rows[0]?.payload.toString()).toBe('{"seq":1,"ts":1,"values":{"x":1}}');
    expect(box.peek(1, 10).map((r) => r.seq)).toEqual([2]);
    box.close();
  });

  it('keeps rows, seq counter and epoch across a reopen; acked rows are gone', () => {
    const path = tempPath();
    const a = new Outbox({ path, maxMessages: 100, fsync: false });
    for (let i = 0; i < 5; i++) a.enqueue('t', { i });
    a.ack([1, 2]);
    const epoch = a.epoch;
    a.close();
    const b = new Outbox({ path, maxMessages: 100, fsync: false });
    expect(b.epoch).toBe(epoch);
    expect(b.depth).toBe(3);
    expect(b.peek(0, 10).map((r) => r.seq)).toEqual([3, 4, 5]);
    expect(b.enqueue('t', {})).toBe(6);
    b.ack([3, 4, 5, 6]);
    b.close();
    // seq never restarts while the file lives, even when the outbox is empty
    const c = new Outbox({ path, maxMessages: 100, fsync: false });
    expect(c.depth).toBe(0);
    expect(c.next).toBe(7);
    c.close();
  });

  it('drops the oldest rows beyond its bound and counts them', () => {
    const path = tempPath();
    const box = new Outbox({ path, maxMessages: 10, fsync: false });
    for (let i = 0; i < 25; i++) box.enqueue('t', { i });
    expect(box.depth).toBe(10);
    expect(box.dropped).toBe(15);
    expect(box.peek(0, 100).map((r) => r.seq)).toEqual([16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    box.close();
    const again = new Outbox({ path, maxMessages: 10, fsync: false });
    expect(again.dropped).toBe(15);
    again.close();
  });

  it('drops the oldest rows beyond its byte bound and keeps the byte count across a reopen', () => {
    const path = tempPath();
    const body = { ts: 1, values: { blob: 'x'.repeat(90) } }; // ~120 bytes a message with its seq
    const box = new Outbox({ path, maxMessages: 1000, maxBytes: 1200, fsync: false });
    for (let i = 0; i < 30; i++) box.enqueue('t', body);
    const rows = box.peek(0, 100);
    const size = rows.reduce((n, r) => n + r.payload.length, 0);
    expect(box.size).toBe(size);
    expect(size).toBeLessThanOrEqual(1200);
    expect(box.depth + box.dropped).toBe(30);
    expect(rows.at(-1)?.seq).toBe(30); // the newest are kept
    box.ack([rows[0]?.seq as number]);
    const afterAck = box.size;
    expect(afterAck).toBe(size - (rows[0]?.payload.length ?? 0));
    box.close();
    const again = new Outbox({ path, maxMessages: 1000, maxBytes: 1200, fsync: false });
    expect(again.size).toBe(afterAck);
    again.close();
  });

  it('a new file is a new epoch', () => {
    const a = new Outbox({ path: tempPath(), maxMessages: 10, fsync: false });
    const b = new Outbox({ path: tempPath(), maxMessages: 10, fsync: false });
    expect(a.epoch).not.toBe(b.epoch);
    a.close();
    b.close();
  });
});

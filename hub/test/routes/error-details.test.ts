/**
 * Error bodies say which field a refusal concerns and why (`field`, `reason`, `limit`), so the
 * dashboard can word it in the user's language beside that field. Through the real hub: request
 * validation (a schema keyword) and the services' own refusals (a blank title, an assign without
 * an assignee, a close without feedback).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../../../tests/support/hub.ts';

describe('error details', () => {
  let hub: TestHub;
  let token: string;
  const post = async (url: string, payload: unknown) => {
    const res = await hub.app.inject({
      method: 'POST',
      url,
      headers: { authorization: `Bearer ${token}` },
      payload: payload as object,
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  const incident = (over: Record<string, unknown>) =>
    post('/api/incidents', { title: '河堤渗水', category: 'flood', site: 'demo-village', ...over });

  beforeAll(async () => {
    hub = await startTestHub();
    token = await hub.token();
  });
  afterAll(async () => {
    await hub?.close();
  });

  it('a blank title is refused (three spaces are no title), naming the field', async () => {
    const blank = await incident({ title: '   ' });
    expect(blank).toEqual({
      status: 400,
      body: { code: 'HUB_ERR_VALIDATION', message: 'the title is blank', field: 'title', reason: 'blank' },
    });
    expect((await incident({ title: '' })).body).toMatchObject({ field: 'title', reason: 'required' });
    // Nothing was created by either.
    const list = await hub.app.inject({
      url: '/api/incidents',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(list.json()).toEqual([]);
  });

  it('an over-long title: the limit in the body; a missing site and an unknown field named', async () => {
    expect((await incident({ title: 'x'.repeat(121) })).body).toMatchObject({
      code: 'HUB_ERR_VALIDATION',
      field: 'title',
      reason: 'too_long',
      limit: 120,
    });
    expect((await incident({ site: undefined })).body).toMatchObject({ field: 'site', reason: 'required' });
    expect((await incident({ colour: 'red' })).body).toMatchObject({
      field: 'colour',
      reason: 'unknown_field',
    });
  });

  it('assign without an assignee and close without feedback name their field; a wrong state says so', async () => {
    const created = await incident({});
    expect(created.status).toBe(201);
    expect(created.body.title).toBe('河堤渗水');
    const id = created.body.id as number;
    const move = (body: unknown) => post(`/api/incidents/${id}/transitions`, body);
    expect((await move({ action: 'resolve' })).body).toMatchObject({
      code: 'HUB_ERR_CONFLICT',
      reason: 'wrong_state',
    });
    expect((await move({ action: 'accept' })).status).toBe(200);
    expect((await move({ action: 'assign' })).body).toMatchObject({ field: 'assignee', reason: 'required' });
    expect((await move({ action: 'assign', assignee: '  ' })).body).toMatchObject({
      field: 'assignee',
      reason: 'blank',
    });
    const assigned = await move({ action: 'assign', assignee: '王网格' });
    expect(assigned.status).toBe(200);
    expect(assigned.body.assignee).toBe('王网格');
    expect((await move({ action: 'start' })).status).toBe(200);
    expect((await move({ action: 'resolve' })).status).toBe(200);
    expect((await move({ action: 'close', feedback: ' ' })).body).toMatchObject({
      field: 'feedback',
      reason: 'blank',
    });
  });
});

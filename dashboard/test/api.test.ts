/**
 * The dashboard's typed REST client: answers typed by path from the contract (checked by the
 * compiler: `npm run typecheck` covers this file), and the URL built from a path template.
 */
import type {
  AlarmBulkAckAnswer,
  DeviceHistory,
  PublicUser,
  ReadingRule,
  RulePreview,
  SiteView,
  TrackPoint,
} from '@qianliyan/protocols';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { type Answer, apiUrl, type CallOptions, type GetPath } from '../src/api.ts';

describe('the typed REST client', () => {
  it('types each answer by its path, from the contract', () => {
    expectTypeOf<Answer<'GET', '/api/sites'>>().toEqualTypeOf<SiteView[]>();
    expectTypeOf<Answer<'GET', '/api/auth/me'>>().toEqualTypeOf<PublicUser>();
    expectTypeOf<Answer<'GET', '/api/devices/:key/history'>>().toEqualTypeOf<DeviceHistory>();
    expectTypeOf<Answer<'GET', '/api/devices/:key/track'>['points']>().toEqualTypeOf<TrackPoint[]>();
    // The alarm centre's answers, PUT and DELETE included.
    expectTypeOf<Answer<'PUT', '/api/alarm-rules/:id'>>().toEqualTypeOf<ReadingRule>();
    expectTypeOf<Answer<'DELETE', '/api/alarm-rules/:id'>>().toEqualTypeOf<null>();
    expectTypeOf<Answer<'POST', '/api/alarm-rules/preview'>>().toEqualTypeOf<RulePreview>();
    expectTypeOf<Answer<'POST', '/api/alarms/ack'>>().toEqualTypeOf<AlarmBulkAckAnswer>();
    // A path the hub does not answer is not a path of the client.
    expectTypeOf<'/api/no-such-thing'>().not.toMatchTypeOf<GetPath>();
    // A path with parameters needs them.
    expectTypeOf<{ query: { field: string } }>().not.toMatchTypeOf<
      CallOptions<'/api/devices/:key/history'>
    >();
    expectTypeOf<{ params: { key: string } }>().toMatchTypeOf<CallOptions<'/api/devices/:key/history'>>();
  });

  it('fills the path’s parameters (encoded) and appends the defined query values', () => {
    expect(
      apiUrl('/api/devices/:key/history', { key: 'gw-1.cam 1' }, { field: 'temp', from: 0, to: undefined }),
    ).toBe('/api/devices/gw-1.cam%201/history?field=temp&from=0');
    expect(apiUrl('/api/incidents/:id/link', { id: 7 })).toBe('/api/incidents/7/link');
    expect(apiUrl('/api/sites')).toBe('/api/sites');
    expect(() => apiUrl('/api/incidents/:id', {})).toThrow(/no value for :id/);
  });
});

/** Where a gateway pushes a stream: its own hub, or the hub `stream.start` names (several hubs). */
import { describe, expect, it } from 'vitest';
import { HubLink } from '../../src/video/hub-link.ts';

describe('HubLink.streamTarget', () => {
  const session = 'abcdefghijklmnopqrstuv';

  it('pushes to the configured hub unless stream.start names one', () => {
    const link = new HubLink('http://lb.county:8080', 'gw', 'pw');
    expect(link.streamTarget(session).url).toBe(`ws://lb.county:8080/api/edge/streams/${session}`);
    expect(link.streamTarget(session, 'http://hub-2:8080').url).toBe(
      `ws://hub-2:8080/api/edge/streams/${session}`,
    );
  });

  it('never from HTTPS to plain HTTP: the push carries the gateway credential', () => {
    const link = new HubLink('https://lb.county', 'gw', 'pw');
    expect(() => link.streamTarget(session, 'http://hub-2:8080')).toThrow(/not HTTPS/);
    expect(link.streamTarget(session, 'https://hub-2:8443').url).toBe(
      `wss://hub-2:8443/api/edge/streams/${session}`,
    );
  });
});

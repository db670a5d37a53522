/**
 * A simulated county for scale tests and the map benchmark: towns of villages, one gateway per
 * village speaking the real MQTT contract (heartbeats, descriptors, telemetry, events) through the
 * hub's broker. The site tree is given to the hub as config (`sites`).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DeviceKind, topics } from '@qianliyan/protocols';
import mqtt from 'mqtt';

export interface CountyShape {
  towns: number;
  villagesPerTown: number;
  devicesPerVillage: number;
}

export interface SimVillage {
  id: string;
  name: string;
  town: string;
  gateway: string;
  center: { lat: number; lon: number };
}

const CENTER = { lat: 30.0, lon: 120.0 };
const KINDS: DeviceKind[] = ['sensor', 'sensor', 'camera', 'speaker'];

export function countyLayout(shape: CountyShape) {
  const sites: Array<Record<string, unknown>> = [
    { id: 'sim-county', name: '模拟县', level: 'county', center: CENTER },
  ];
  const villages: SimVillage[] = [];
  for (let t = 0; t < shape.towns; t++) {
    const angle = (2 * Math.PI * t) / shape.towns;
    const town = {
      id: `town-${t + 1}`,
      name: `第${t + 1}镇`,
      center: { lat: CENTER.lat + 0.12 * Math.sin(angle), lon: CENTER.lon + 0.14 * Math.cos(angle) },
    };
    sites.push({ ...town, level: 'town', parent: 'sim-county' });
    for (let v = 0; v < shape.villagesPerTown; v++) {
      const a = (2 * Math.PI * v) / shape.villagesPerTown;
      const id = `t${t + 1}-v${v + 1}`;
      const village: SimVillage = {
        id,
        name: `${t + 1}镇${v + 1}村`,
        town: town.id,
        gateway: `gw-${id}`,
        center: { lat: town.center.lat + 0.035 * Math.sin(a), lon: town.center.lon + 0.04 * Math.cos(a) },
      };
      villages.push(village);
      sites.push({ id, name: village.name, level: 'village', parent: town.id, center: village.center });
    }
  }
  return { sites, villages, center: CENTER };
}

/** The county's outline as a basemap GeoJSON file in `dir` (the map opens on it); returns its path. */
export function writeCountyOutline(dir: string, center: { lat: number; lon: number }): string {
  const { lat, lon } = center;
  const path = join(dir, 'county.geojson');
  const ring = [
    [lon - 0.2, lat - 0.18],
    [lon + 0.2, lat - 0.18],
    [lon + 0.2, lat + 0.18],
    [lon - 0.2, lat + 0.18],
    [lon - 0.2, lat - 0.18],
  ];
  writeFileSync(
    path,
    JSON.stringify({
      type: 'FeatureCollection',
      features: [
        {
          type: 'Feature',
          properties: { kind: 'boundary', name: '模拟县' },
          geometry: { type: 'Polygon', coordinates: [ring] },
        },
      ],
    }),
  );
  return path;
}

/** Where device `i` of a village stands: a spiral around the village centre, within about 400 m. */
export function devicePosition(village: SimVillage, i: number, n: number) {
  const r = 0.004 * Math.sqrt((i + 1) / n);
  const a = i * 2.399963; // the golden angle: evenly spread, no two on one spot
  return { lat: village.center.lat + r * Math.sin(a), lon: village.center.lon + r * Math.cos(a) * 1.15 };
}

interface GatewayLink {
  village: SimVillage;
  client: mqtt.MqttClient;
  seq: { control: number; bulk: number };
}

export class CountySim {
  private readonly links: GatewayLink[] = [];
  private tick = 0;
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  readonly epoch = `county-${process.pid}-${Date.now()}`;
  /** Telemetry messages published so far. */
  published = 0;

  constructor(
    readonly villages: SimVillage[],
    readonly devicesPerVillage: number,
  ) {}

  static deviceId(i: number): string {
    return `d${String(i + 1).padStart(4, '0')}`;
  }

  /** Connects every gateway (passwords by gateway id) and publishes its heartbeat and descriptors. */
  async start(brokerUrl: string, passwords: Map<string, string>): Promise<void> {
    for (const village of this.villages) {
      const client = await mqtt.connectAsync(brokerUrl, {
        protocolVersion: 4,
        clientId: village.gateway,
        username: village.gateway,
        password: passwords.get(village.gateway) ?? '',
        reconnectPeriod: 1000,
      });
      this.links.push({ village, client, seq: { control: 0, bulk: 0 } });
    }
    await Promise.all(this.links.map((l) => this.sendHeartbeat(l)));
    await Promise.all(
      this.links.map(async (l) => {
        for (let i = 0; i < this.devicesPerVillage; i++) {
          const kind = KINDS[i % KINDS.length] as DeviceKind;
          await this.publish(
            l,
            'control',
            topics.meta(l.village.id, l.village.gateway, CountySim.deviceId(i)),
            {
              kind,
              name: `${kindName(kind)} ${String(i + 1).padStart(3, '0')}`,
              position: devicePosition(l.village, i, this.devicesPerVillage),
              capabilities: [],
            },
          );
        }
      }),
    );
    this.heartbeat = setInterval(() => {
      for (const l of this.links) void this.sendHeartbeat(l).catch(() => undefined);
    }, 5000);
  }

  /**
   * Every device sends one sample per second, spread evenly over the second. `stamp` receives the
   * publish time of each (gateway, device) sample so a page can measure publish → drawn.
   */
  run(ratePerDevicePerSecond = 1): void {
    const total = this.villages.length * this.devicesPerVillage;
    const slices = 20; // every 50 ms, a twentieth of the county
    let slice = 0;
    this.timer = setInterval(
      () => {
        const from = Math.floor((slice * total) / slices);
        const to = Math.floor(((slice + 1) * total) / slices);
        slice = (slice + 1) % slices;
        if (slice === 0) this.tick += 1;
        const ts = Date.now();
        for (let n = from; n < to; n++) {
          const link = this.links[Math.floor(n / this.devicesPerVillage)] as GatewayLink;
          const i = n % this.devicesPerVillage;
          void this.publish(
            link,
            'bulk',
            topics.telemetry(link.village.id, link.village.gateway, CountySim.deviceId(i)),
            { values: { level: (this.tick + i) % 100, sentAt: ts } },
            0,
            ts,
          ).catch(() => undefined);
          this.published += 1;
        }
      },
      1000 / slices / ratePerDevicePerSecond,
    );
  }

  /** Raises an alarm event on one device. */
  async alarm(villageIndex: number, device: number, type = 'intrusion'): Promise<void> {
    const link = this.links[villageIndex] as GatewayLink;
    await this.publish(
      link,
      'control',
      topics.event(link.village.id, link.village.gateway, CountySim.deviceId(device)),
      { type, severity: 'critical' },
      1,
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    await Promise.all(this.links.map((l) => l.client.endAsync(true).catch(() => undefined)));
  }

  private sendHeartbeat(l: GatewayLink): Promise<unknown> {
    return this.publish(l, 'control', topics.state(l.village.id, l.village.gateway), {
      online: true,
      version: 'county-sim',
      heartbeatMs: 5000,
    });
  }

  private publish(
    l: GatewayLink,
    lane: 'control' | 'bulk',
    topic: string,
    body: object,
    qos: 0 | 1 = 1,
    ts = Date.now(),
  ): Promise<unknown> {
    l.seq[lane] += 1;
    return l.client.publishAsync(
      topic,
      JSON.stringify({ seq: l.seq[lane], epoch: this.epoch, ts, ...body }),
      {
        qos,
      },
    );
  }
}

function kindName(kind: DeviceKind): string {
  return kind === 'camera' ? '摄像头' : kind === 'speaker' ? '广播' : kind === 'sensor' ? '水位' : '无人机';
}

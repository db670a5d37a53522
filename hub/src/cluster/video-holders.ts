/**
 * Video across hubs: one hub of the cluster streams each camera stream (the gateway pushes it once,
 * to that hub); the others relay it from that hub for their own viewers.
 *
 * The holder is the hub holding the lease `video:<device>/<stream>` (a PostgreSQL advisory lock,
 * leases.ts): taken by the first hub that wants the stream, released when its relay stops, and
 * gone with the hub's database connection when it dies, so a survivor takes it on its next try. The
 * lock says who holds it, not where that hub is: the holder writes its `cluster.advertiseUrl` in
 * `video_holders` right after taking the lock. A row outliving its (dead) hub is harmless: nobody
 * answers there, the asking relay retries, and takes the lease itself once the lock is free.
 */
import type { StreamName } from '@qianliyan/protocols';
import type { StateDb } from '../stores/state-db.ts';
import type { Leases } from './leases.ts';

export const videoLease = (device: string, stream: StreamName): string => `video:${device}/${stream}`;

export type VideoClaim = { mine: true } | { mine: false; holder: { hubId: string; url: string } | undefined };

export class VideoHolders {
  constructor(
    private readonly leases: Leases,
    private readonly db: StateDb,
    readonly hubId: string,
    /** This hub's address as gateways and the other hubs reach it. */
    readonly advertiseUrl: string,
  ) {}

  /** Takes the stream's lease when free (this hub streams it then), else names its holder. */
  claim(device: string, stream: StreamName): VideoClaim {
    const lease = videoLease(device, stream);
    if (this.leases.tryTake(lease)) {
      this.db.setVideoHolder(lease, this.hubId, this.advertiseUrl);
      return { mine: true };
    }
    const holder = this.db.getVideoHolder(lease);
    return { mine: false, holder: holder && holder.hubId !== this.hubId ? holder : undefined };
  }

  holds(device: string, stream: StreamName): boolean {
    return this.leases.holds(videoLease(device, stream));
  }

  release(device: string, stream: StreamName): void {
    const lease = videoLease(device, stream);
    if (!this.leases.holds(lease)) return;
    this.db.clearVideoHolder(lease, this.hubId);
    this.leases.release(lease);
  }
}

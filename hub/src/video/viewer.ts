/** One viewer socket of a camera stream, as the relay and its fan-outs see it. */
import type { VideoFormat } from '@qianliyan/protocols';

export interface Viewer {
  readonly format: VideoFormat;
  /** The viewer's browser plays H.265 in MSE (it said so when it connected). */
  readonly hevc?: boolean;
  readonly username: string;
  send(data: Buffer | string): void;
  /** Bytes queued to this viewer and not yet sent. */
  buffered(): number;
  close(code: number, reason: string): void;
}

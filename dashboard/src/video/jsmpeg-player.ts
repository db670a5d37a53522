/**
 * MPEG-1 in MPEG-TS for browsers without MSE/H.264: JSMpeg decodes it onto a canvas. The socket is
 * ours (it also carries state messages), so JSMpeg gets a source that only receives what we write.
 */
import JSMpeg from '@cycjimmy/jsmpeg-player';

interface Destination {
  write(data: ArrayBuffer): void;
}

/** A JSMpeg source fed by hand (JSMpeg's `options.source`). */
class PushedSource {
  destination: Destination | undefined;
  established = false;
  completed = false;
  progress = 1;
  streaming = true;
  connect(destination: Destination): void {
    this.destination = destination;
  }
  start(): void {}
  resume(): void {}
  destroy(): void {
    this.destination = undefined;
  }
  write(data: ArrayBuffer): void {
    this.established = true;
    this.destination?.write(data);
  }
}

export class JsmpegPlayer {
  readonly canvas: HTMLCanvasElement;
  private readonly player: { source: PushedSource; destroy(): void };
  frames = 0;
  onFrame: ((canvas: HTMLCanvasElement) => void) | undefined;

  constructor(container: HTMLElement) {
    this.canvas = document.createElement('canvas');
    container.append(this.canvas);
    const Player = (
      JSMpeg as unknown as {
        Player: new (url: string, options: object) => { source: PushedSource; destroy(): void };
      }
    ).Player;
    this.player = new Player('pushed', {
      canvas: this.canvas,
      source: PushedSource,
      audio: false,
      // The 2D renderer: no WebGL needed (headless and old machines), and pixels stay readable.
      disableGl: true,
      disableWebAssembly: false,
      pauseWhenHidden: false,
      videoBufferSize: 1024 * 1024,
      onVideoDecode: () => {
        this.frames += 1;
        this.onFrame?.(this.canvas);
      },
    });
  }

  write(data: ArrayBuffer): void {
    this.player.source.write(data);
  }

  dispose(): void {
    try {
      this.player.destroy();
    } catch {
      /* already gone */
    }
    this.canvas.remove();
  }
}

/**
 * Follows the MQTT framing of a byte stream (fixed header byte, remaining-length varint, body) and
 * reports the first packet whose declared remaining length exceeds a limit, as soon as its length
 * is known: the embedded broker drops that connection before buffering the packet. (aedes has no
 * packet-size limit of its own; its parser would collect a 100 MB PUBLISH in memory.)
 */
export class MqttFrameMeter {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;

  constructor(private readonly maxRemainingLength: number) {}

  /** Returns the declared length of an oversize packet, -1 for a malformed length, or 0. */
  feed(chunk: Buffer): number {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const take = Math.min(this.remaining, chunk.length - i);
        this.remaining -= take;
        i += take;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      if (this.state === 'type') {
        i += 1;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        continue;
      }
      const byte = chunk[i] as number;
      i += 1;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes += 1;
      if (byte & 0x80) {
        if (this.lengthBytes >= 4) return -1; // MQTT 3.1.1 §2.2.3: at most four bytes
        continue;
      }
      if (this.length > this.maxRemainingLength) return this.length;
      this.remaining = this.length;
      this.state = this.remaining > 0 ? 'body' : 'type';
    }
    return 0;
  }
}

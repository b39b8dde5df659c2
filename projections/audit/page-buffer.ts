// A page of export lines as one Buffer, for the pages a store renders in JS rather than in SQL.

/** Collects a page of lines into one Buffer (encoding each line once, no giant concatenated string). */
export class PageBuffer {
  private buf = Buffer.allocUnsafe(1 << 20);
  private off = 0;
  add(line: string): void {
    if (this.buf.length - this.off < line.length * 3) {
      const next = Buffer.allocUnsafe(this.buf.length * 2 + line.length * 3);
      this.buf.copy(next, 0, 0, this.off);
      this.buf = next;
    }
    this.off += this.buf.write(line, this.off, 'utf8');
  }
  take(): Buffer {
    return this.buf.subarray(0, this.off);
  }
}

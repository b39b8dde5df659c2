// A progress bar on stderr (plain lines when stderr is not a terminal).
export function progressBar(label: string, total: number): { update(n: number): void; done(): void } {
  const tty = process.stderr.isTTY;
  let last = 0;
  const draw = (n: number): void => {
    const pct = total <= 0 ? 100 : Math.min(100, Math.floor((n / total) * 100));
    const width = 30;
    const fill = Math.round((pct / 100) * width);
    const line = `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% (${Math.max(0, n)}/${Math.max(0, total)})`;
    if (tty) process.stderr.write(`\r${line}`);
    else if (pct >= last + 10 || (pct === 100 && last < 100)) {
      process.stderr.write(`${line}\n`);
      last = pct;
    }
  };
  return { update: draw, done: () => (draw(total), tty && process.stderr.write('\n'), undefined) };
}

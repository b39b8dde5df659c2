// One output format for every benchmark: a figure, its target and a verdict, counting the misses.
import { arch, availableParallelism, cpus, platform, totalmem } from 'node:os';

let missed = 0;

export function figure(label: string, value: string, target: string, pass: boolean | null, extra = ''): void {
  if (pass === false) missed++;
  const verdict = pass === null ? '     ' : pass ? 'PASS ' : 'MISS ';
  console.log(`  ${label.padEnd(34)} ${value.padStart(18)}   ${target.padEnd(22)} ${verdict}${extra}`);
}

/** Targets missed so far in this run. */
export function misses(): number {
  return missed;
}

/** The machine line every benchmark prints, so numbers are read against the hardware that made them. */
export function machine(): string {
  const cpu = cpus();
  return `machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores (${availableParallelism()} available), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}, ${platform()} ${arch()}`;
}

// Child processes seen through /proc: the writer and publisher processes a test expects to start, end or be killed,
// and the priority they run at.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Whether a process is alive (an exited one nobody has reaped yet is a zombie: state Z). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of the running processes whose parent is `ppid` and whose command line names `script`. */
export function childrenRunning(ppid: number, script: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      // Fields after the command name (which may hold spaces): state, then ppid.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[1]) === ppid && cmd.includes(script)) out.push(Number(name));
    } catch {
      // The process ended between readdir and read.
    }
  }
  return out;
}

/** A process's nice value (the 19th field of its stat). */
export function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

/** The name of the program a process runs now (Linux comm): `nice` until it has set the niceness and run its command. */
export function programOf(pid: number): string {
  return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
}

/** The nice value of a process's autogroup (Linux), or null where the kernel keeps none. */
export function autogroupNiceOf(pid: number): number | null {
  if (!existsSync('/proc/self/autogroup')) return null;
  return Number(/nice (-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, 'utf8'))?.[1]);
}

/** The process table, from /proc: children of a process, their names and states (Z = defunct). */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  name: string;
  state: string;
  cmdline: string;
}

export function processes(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may contain spaces and parentheses.
      const close = stat.lastIndexOf(')');
      const name = stat.slice(stat.indexOf('(') + 1, close);
      const [state = '', ppid = '0'] = stat.slice(close + 2).split(' ');
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      out.push({ pid: Number(entry), ppid: Number(ppid), name, state, cmdline });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** Descendants of `pid` (children, their children…). */
export function descendants(pid: number, all = processes()): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  const queue = [pid];
  while (queue.length) {
    const parent = queue.shift() as number;
    for (const p of all)
      if (p.ppid === parent) {
        out.push(p);
        queue.push(p.pid);
      }
  }
  return out;
}

export const ffmpegs = (list: ProcessInfo[]) => list.filter((p) => p.name === 'ffmpeg');
export const defunct = (list: ProcessInfo[]) => list.filter((p) => p.state === 'Z');

import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  /** Resident set size now (VmRSS). */
  rssBytes: number;
  /** The largest RSS since the process started (VmHWM, the kernel's high-water mark). */
  peakRssBytes: number;
}

/** RSS of process `pid` from /proc/<pid>/status, without asking the process (it may be busy or gone); undefined once it is gone. */
export function processMemory(pid: number): ProcessMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

export const MiB = 2 ** 20;
export const mib = (bytes: number, digits = 1): number => Number((bytes / MiB).toFixed(digits));

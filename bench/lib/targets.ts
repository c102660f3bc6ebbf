/** The targets the runner reports against (issue 3); met or not, printed beside each figure. */
export const TARGETS = {
  callsVsAedes: 1.2,
  callsVsLimit: 0.7,
  p99AtHalfRateMs: 5,
  /** compare at its fixed offered rate (8,000 calls/s by default). */
  p99AtFixedRateMs: 2,
  heapPerIdleDeviceBytes: 6 * 1024,
  rssPerIdleDeviceBytes: 12 * 1024,
  idleDevicesOnOneNode: 100_000,
} as const;

export const verdict = (met: boolean): string => (met ? 'met' : 'MISSED');

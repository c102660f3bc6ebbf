import { setup } from 'xstate';
import type { DeviceEntry } from './device-entry.js';

/**
 * A device as the server sees it on this node.
 *
 *   offline ──CONNECTED──▶ connected ──SUBSCRIBED──▶ subscribed
 *      ▲                      │  ▲──UNSUBSCRIBED──────┘ │
 *      └──────DISCONNECTED────┴─────────────────────────┘
 *   any ──CLOSED──▶ closed (device deleted, server closing)
 *
 * DESIGN.md names `connected ⇄ subscribed, closed`; `offline` is added so the
 * actor can hold calls that wait for the device's next session (the request id
 * counter must not restart while those calls are pending). An entry with no
 * session and no pending call is dropped, so idle memory is only for devices
 * that are connected or awaited.
 */
export type DeviceSessionEvent =
  | { type: 'CONNECTED' }
  | { type: 'SUBSCRIBED' }
  | { type: 'UNSUBSCRIBED' }
  | { type: 'DISCONNECTED' }
  | { type: 'CLOSED' };

export type DeviceSessionState = 'offline' | 'connected' | 'subscribed' | 'closed';

export interface DeviceSessionContext {
  readonly entry: DeviceEntry;
}

const deviceSessionSetup = setup({
  types: {} as { context: DeviceSessionContext; input: DeviceEntry; events: DeviceSessionEvent },
  actions: {
    /** Queued calls go out in the configured order. */
    deliverQueued: () => {},
    /** Sent-but-unacknowledged calls go back in line; delivered ones keep waiting for a reply. */
    sessionLost: () => {},
    /** Every pending call fails; the entry is forgotten. */
    closeDevice: () => {},
  },
});

function defineDeviceSession(initial: 'offline' | 'connected') {
  return deviceSessionSetup.createMachine({
    id: `deviceSession.${initial}`,
    initial,
    context: ({ input }) => ({ entry: input }),
    states: {
      offline: {
        on: { CONNECTED: 'connected', SUBSCRIBED: 'subscribed', CLOSED: 'closed' },
      },
      connected: {
        on: {
          SUBSCRIBED: 'subscribed',
          DISCONNECTED: { target: 'offline', actions: 'sessionLost' },
          CLOSED: 'closed',
        },
      },
      subscribed: {
        entry: 'deliverQueued',
        on: {
          UNSUBSCRIBED: 'connected',
          DISCONNECTED: { target: 'offline', actions: 'sessionLost' },
          CLOSED: 'closed',
        },
      },
      closed: { type: 'final', entry: 'closeDevice' },
    },
  });
}

export const deviceSessionMachines = {
  offline: defineDeviceSession('offline'),
  connected: defineDeviceSession('connected'),
};

export type DeviceSessionMachine = ReturnType<typeof defineDeviceSession>;

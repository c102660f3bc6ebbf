import { setup } from 'xstate';
import type { CallRecord } from './call-record.js';

/**
 * One server-side call, from creation to exactly one terminal state.
 *
 *   queued ──SENT──▶ sent ──ACKED──▶ delivered ──REPLIED──▶ replied
 *     │  ▲─SESSION_LOST─┘                 (QoS 0 / HTTP: queued ──HANDED_OVER──▶ delivered)
 *     └─ DEADLINE ▶ expired      sent|delivered ─DEADLINE▶ timeout
 *   any live state ─FAILED▶ failed, ─DELETED▶ deleted; REPLIED in sent completes too
 *   (a reply that overtakes its PUBACK completes the call: SPEC.md), and in queued for a
 *   request that went out before (the system lets through only replies to such requests).
 *
 * A one-way call ends at `delivered`. The machine names its effects; system.ts
 * provides them. Per DESIGN.md's measurements the machine carries no context
 * beyond a reference to its record, no `after` timers (the shared deadline
 * scheduler sends DEADLINE), and starts in the state the call is really in.
 */
export type PendingCallEvent =
  | { type: 'SENT' }
  | { type: 'ACKED' }
  | { type: 'HANDED_OVER' }
  | { type: 'REPLIED' }
  | { type: 'DEADLINE' }
  | { type: 'SESSION_LOST' }
  | { type: 'FAILED' }
  | { type: 'DELETED' };

export type PendingCallState = 'queued' | 'sent' | 'delivered' | 'replied' | 'timeout' | 'expired' | 'failed' | 'deleted';
export type CallOutcome = Exclude<PendingCallState, 'queued' | 'sent'>;
export type StartState = 'queued' | 'sent' | 'delivered';

export interface PendingCallContext {
  readonly record: CallRecord;
}

const pendingCallSetup = setup({
  types: {} as { context: PendingCallContext; input: CallRecord; events: PendingCallEvent },
  actions: {
    /** The caller gets its one answer; the record leaves the device's books. */
    answerCaller: (_, _params: { outcome: CallOutcome }) => {},
    /** The device acknowledged the request (sequential-on-ack moves on). */
    markDelivered: () => {},
    /** The session carrying a sent request closed before its ack: back in line. */
    requeue: () => {},
  },
});

const end = (outcome: CallOutcome) => ({
  type: 'final' as const,
  entry: { type: 'answerCaller' as const, params: { outcome } },
});

const sideExits = { FAILED: 'failed', DELETED: 'deleted' } as const;

function definePendingCall(initial: StartState, oneway: boolean) {
  const machineId = `pendingCall.${oneway ? 'oneway' : 'twoway'}.${initial}`;
  const common = {
    id: machineId,
    initial,
    context: ({ input }: { input: CallRecord }) => ({ record: input }),
  };
  if (oneway) {
    return pendingCallSetup.createMachine({
      ...common,
      states: {
        queued: { on: { SENT: 'sent', HANDED_OVER: 'delivered', DEADLINE: 'expired', ...sideExits } },
        sent: {
          on: {
            ACKED: 'delivered',
            DEADLINE: 'timeout',
            SESSION_LOST: { target: 'queued', actions: 'requeue' },
            ...sideExits,
          },
        },
        delivered: end('delivered'),
        replied: end('replied'),
        timeout: end('timeout'),
        expired: end('expired'),
        failed: end('failed'),
        deleted: end('deleted'),
      },
    });
  }
  return pendingCallSetup.createMachine({
    ...common,
    states: {
      queued: {
        // REPLIED: a request that went out before (its session was lost, or an earlier attempt) may still be answered.
        on: { SENT: 'sent', HANDED_OVER: 'delivered', REPLIED: 'replied', DEADLINE: 'expired', ...sideExits },
      },
      sent: {
        on: {
          ACKED: 'delivered',
          REPLIED: 'replied',
          DEADLINE: 'timeout',
          SESSION_LOST: { target: 'queued', actions: 'requeue' },
          ...sideExits,
        },
      },
      delivered: {
        entry: 'markDelivered',
        on: { REPLIED: 'replied', DEADLINE: 'timeout', ...sideExits },
      },
      replied: end('replied'),
      timeout: end('timeout'),
      expired: end('expired'),
      failed: end('failed'),
      deleted: end('deleted'),
    },
  });
}

/** Machine definitions, built once at module level (DESIGN.md: ~126 µs and 18 KB per definition). */
export const pendingCallMachines = {
  twoway: {
    queued: definePendingCall('queued', false),
    sent: definePendingCall('sent', false),
    delivered: definePendingCall('delivered', false),
  },
  oneway: {
    queued: definePendingCall('queued', true),
    sent: definePendingCall('sent', true),
  },
};

export type PendingCallMachine = ReturnType<typeof definePendingCall>;

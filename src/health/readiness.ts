import type { ClusterBus } from '../cluster/bus.js';

export interface CheckResult {
  readonly status: 'pass' | 'fail';
  readonly output?: string;
}

/**
 * Whether this node may be sent traffic (`GET /readyz`): its listeners are open, the unfinished persistent calls are
 * accounted for, and in a cluster Redis answers and the connection that carries this node's inboxes is subscribed.
 * The state is set by the server as it starts and stops; the cluster's is read from its connections.
 */
export class Readiness {
  listening = false;
  recovered = false;
  closing = false;

  constructor(readonly bus: ClusterBus | undefined) {}

  checks(): Record<string, CheckResult[]> {
    const check = (pass: boolean, failing: string): CheckResult[] => [pass ? { status: 'pass' } : { status: 'fail', output: failing }];
    const checks: Record<string, CheckResult[]> = {
      'listeners:open': check(this.listening && !this.closing, this.closing ? 'the server is shutting down' : 'the listeners are not open yet'),
      'persistentCalls:recovered': check(this.recovered, 'unfinished persistent calls are still being accounted for'),
    };
    if (this.bus !== undefined) {
      checks['redis:reachable'] = check(this.bus.ready, 'Redis does not answer');
      checks['redis:inboxesSubscribed'] = check(this.bus.subscriberReady, "the connection that carries this node's inboxes is not subscribed");
    }
    return checks;
  }
}

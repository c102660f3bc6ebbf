/**
 * ThingsBoard's device topics (SPEC.md). `v1` is the long form, `v2` the short
 * one; a device answers on the form it was asked on.
 */
export type TopicStyle = 'v1' | 'v2';

export const RPC_TOPICS = {
  v1: {
    requestFilter: 'v1/devices/me/rpc/request/+',
    request: 'v1/devices/me/rpc/request/',
    response: 'v1/devices/me/rpc/response/',
  },
  v2: {
    requestFilter: 'v2/r/req/+',
    request: 'v2/r/req/',
    response: 'v2/r/res/',
  },
} as const;

export const GATEWAY_TOPICS = {
  connect: 'v1/gateway/connect',
  disconnect: 'v1/gateway/disconnect',
  rpc: 'v1/gateway/rpc',
} as const;

export type PublishTopic =
  | { kind: 'rpc-response'; style: TopicStyle; id: number }
  | { kind: 'rpc-request'; style: TopicStyle; id: string }
  | { kind: 'other' };

const MAX_ID_LENGTH = 64;

function tail(topic: string, prefix: string): string | undefined {
  if (!topic.startsWith(prefix)) return undefined;
  const rest = topic.slice(prefix.length);
  return rest.length > 0 && rest.length <= MAX_ID_LENGTH && !rest.includes('/') ? rest : undefined;
}

const REQUEST_ID = /^[1-9][0-9]{0,9}$/;

/** What a device's PUBLISH topic means to the RPC layer. */
export function classifyPublishTopic(topic: string): PublishTopic {
  for (const style of ['v1', 'v2'] as const) {
    const topics = RPC_TOPICS[style];
    const responseId = tail(topic, topics.response);
    if (responseId !== undefined) {
      return REQUEST_ID.test(responseId) ? { kind: 'rpc-response', style, id: Number(responseId) } : { kind: 'other' };
    }
    const requestId = tail(topic, topics.request);
    if (requestId !== undefined) return { kind: 'rpc-request', style, id: requestId };
  }
  return { kind: 'other' };
}

export type FilterClass = { kind: 'rpc-requests'; style: TopicStyle } | { kind: 'accepted' } | { kind: 'not-authorized' } | { kind: 'invalid' };

/** [MQTT-4.7.1]: `#` only last and alone in its level, `+` alone in its level. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0 || filter.length > 65535 || filter.includes('\u0000')) return false;
  const levels = filter.split('/');
  return levels.every((level, i) => {
    if (level.includes('#')) return level === '#' && i === levels.length - 1;
    if (level.includes('+')) return level === '+';
    return true;
  });
}

const DEVICE_NAMESPACES = ['v1/devices/me/', 'v2/', 'v1/gateway/'];

/**
 * A device may subscribe to the RPC request topics (which make it subscribed)
 * and to anything else in its own namespace (attribute topics that ThingsBoard
 * firmware subscribes to as well), which is granted and stays quiet.
 */
export function classifySubscription(filter: string): FilterClass {
  if (!isValidTopicFilter(filter)) return { kind: 'invalid' };
  if (filter === RPC_TOPICS.v1.requestFilter || filter === 'v1/devices/me/rpc/request/#') return { kind: 'rpc-requests', style: 'v1' };
  if (filter === RPC_TOPICS.v2.requestFilter || filter === 'v2/r/req/#') return { kind: 'rpc-requests', style: 'v2' };
  if (DEVICE_NAMESPACES.some((ns) => filter.startsWith(ns) || ns.startsWith(filter.replace(/#$/, '')))) return { kind: 'accepted' };
  return { kind: 'not-authorized' };
}

export function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#');
}

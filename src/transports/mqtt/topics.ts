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
  telemetry: 'v1/gateway/telemetry',
  attributes: 'v1/gateway/attributes',
  attributesRequest: 'v1/gateway/attributes/request',
  attributesResponse: 'v1/gateway/attributes/response',
} as const;

/** ThingsBoard's device data topics, long and short form. */
export const DATA_TOPICS = {
  v1: { telemetry: 'v1/devices/me/telemetry', attributes: 'v1/devices/me/attributes', request: 'v1/devices/me/attributes/request/', response: 'v1/devices/me/attributes/response/' },
  v2: { telemetry: 'v2/t', attributes: 'v2/a', request: 'v2/a/req/', response: 'v2/a/res/' },
} as const;

export type PublishTopic =
  | { kind: 'rpc-response'; style: TopicStyle; id: number }
  | { kind: 'rpc-request'; style: TopicStyle; id: string }
  | { kind: 'telemetry' }
  | { kind: 'attributes' }
  | { kind: 'attributes-request'; style: TopicStyle; id: string }
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
    const data = DATA_TOPICS[style];
    if (topic === data.telemetry) return { kind: 'telemetry' };
    if (topic === data.attributes) return { kind: 'attributes' };
    const attributesRequestId = tail(topic, data.request);
    if (attributesRequestId !== undefined) return { kind: 'attributes-request', style, id: attributesRequestId };
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

/** Where a device may subscribe: its own topics (ThingsBoard's `me`), the short form, and gateway topics. */
const DEVICE_NAMESPACES = [['v1', 'devices', 'me'], ['v2'], ['v1', 'gateway']];
/** A filter subscribes to requests when it matches any request id, so two samples. */
const SAMPLE_REQUESTS = { v1: ['v1/devices/me/rpc/request/1', 'v1/devices/me/rpc/request/2'], v2: ['v2/r/req/1', 'v2/r/req/2'] } as const;

/** Does a subscription filter carry `v1/gateway/rpc` (requests for the gateway's sub-devices)? */
export function matchesGatewayRpc(filter: string): boolean {
  return isValidTopicFilter(filter) && topicMatches(filter, GATEWAY_TOPICS.rpc);
}

/** [MQTT-4.7]: does `filter` match the topic name `topic`? */
export function topicMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

function reachesNamespace(levels: string[], namespace: string[]): boolean {
  for (let i = 0; i < namespace.length; i++) {
    const level = levels[i];
    if (level === undefined) return false;
    if (level === '#') return true;
    if (level !== '+' && level !== namespace[i]) return false;
  }
  return levels.length > namespace.length;
}

/**
 * A filter that matches the RPC request topics makes the device subscribed
 * (`v1/devices/me/rpc/request/+`, but also `v1/#` or `#`). Any other filter
 * that can match a topic of the device's own namespace (attribute topics that
 * ThingsBoard firmware subscribes to as well) is granted and stays quiet; the
 * rest is not the device's to read.
 */
export function classifySubscription(filter: string): FilterClass {
  if (!isValidTopicFilter(filter)) return { kind: 'invalid' };
  if (SAMPLE_REQUESTS.v1.every((topic) => topicMatches(filter, topic))) return { kind: 'rpc-requests', style: 'v1' };
  if (SAMPLE_REQUESTS.v2.every((topic) => topicMatches(filter, topic))) return { kind: 'rpc-requests', style: 'v2' };
  const levels = filter.split('/');
  if (DEVICE_NAMESPACES.some((namespace) => reachesNamespace(levels, namespace))) return { kind: 'accepted' };
  return { kind: 'not-authorized' };
}

export function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#');
}

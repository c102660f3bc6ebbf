import { describe, expect, it } from 'vitest';
import {
  RPC_TOPICS,
  classifyPublishTopic,
  classifySubscription,
  hasWildcard,
  isValidTopicFilter,
} from '../../../../src/transports/mqtt/topics.js';

describe('classifyPublishTopic', () => {
  it.each([
    ['v1/devices/me/rpc/response/1', { kind: 'rpc-response', style: 'v1', id: 1 }],
    ['v1/devices/me/rpc/response/2147483647', { kind: 'rpc-response', style: 'v1', id: 2147483647 }],
    ['v2/r/res/42', { kind: 'rpc-response', style: 'v2', id: 42 }],
    ['v1/devices/me/rpc/request/17', { kind: 'rpc-request', style: 'v1', id: '17' }],
    ['v1/devices/me/rpc/request/abc-DEF_1', { kind: 'rpc-request', style: 'v1', id: 'abc-DEF_1' }],
    ['v2/r/req/7', { kind: 'rpc-request', style: 'v2', id: '7' }],
  ])('%s is %o', (topic, expected) => {
    expect(classifyPublishTopic(topic)).toEqual(expected);
  });

  it.each([
    ['response id that is not a number', 'v1/devices/me/rpc/response/abc'],
    ['response id with a leading zero', 'v1/devices/me/rpc/response/01'],
    ['response id zero', 'v2/r/res/0'],
    ['negative response id', 'v1/devices/me/rpc/response/-1'],
    ['response id of eleven digits', 'v1/devices/me/rpc/response/12345678901'],
    ['response with no id', 'v1/devices/me/rpc/response/'],
    ['response with an extra level', 'v1/devices/me/rpc/response/1/2'],
    ['request with no id', 'v1/devices/me/rpc/request/'],
    ['request with an extra level', 'v2/r/req/1/x'],
    ['request id over 64 characters', `v1/devices/me/rpc/request/${'x'.repeat(65)}`],
    ['a telemetry topic with an extra level', 'v1/devices/me/telemetry/x'],
    ['an attribute request with no id', 'v1/devices/me/attributes/request/'],
    ['a prefix of the response topic', 'v1/devices/me/rpc/respons/1'],
    ['another device namespace', 'v1/devices/other/rpc/response/1'],
    ['empty topic', ''],
  ])('%s is other', (_name, topic) => {
    expect(classifyPublishTopic(topic)).toEqual({ kind: 'other' });
  });

  it.each([
    ['v1/devices/me/telemetry', { kind: 'telemetry' }],
    ['v2/t', { kind: 'telemetry' }],
    ['v1/devices/me/attributes', { kind: 'attributes' }],
    ['v2/a', { kind: 'attributes' }],
    ['v1/devices/me/attributes/request/12', { kind: 'attributes-request', style: 'v1', id: '12' }],
    ['v2/a/req/3', { kind: 'attributes-request', style: 'v2', id: '3' }],
  ])('%s is device data', (topic, kind) => {
    expect(classifyPublishTopic(topic)).toEqual(kind);
  });

  it('a request id of exactly 64 characters is a request', () => {
    const id = 'r'.repeat(64);
    expect(classifyPublishTopic(`${RPC_TOPICS.v1.request}${id}`)).toEqual({ kind: 'rpc-request', style: 'v1', id });
  });

  it('request and response prefixes build topics the classifier recognises', () => {
    for (const style of ['v1', 'v2'] as const) {
      expect(classifyPublishTopic(`${RPC_TOPICS[style].response}9`)).toEqual({ kind: 'rpc-response', style, id: 9 });
      expect(classifyPublishTopic(`${RPC_TOPICS[style].request}9`)).toEqual({ kind: 'rpc-request', style, id: '9' });
    }
  });
});

describe('isValidTopicFilter [MQTT-4.7.1]', () => {
  it.each(['a', 'a/b', '#', '+', 'a/#', 'a/+/b', '+/+/#', '/', 'a//b', 'v1/devices/me/rpc/request/+', '$SYS/#'])('%s is valid', (filter) => {
    expect(isValidTopicFilter(filter)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['# not last', 'a/#/b'],
    ['# sharing a level', 'a/b#'],
    ['# first in a shared level', '#a'],
    ['+ sharing a level', 'a+/b'],
    ['+ after text in a level', 'a/b+'],
    ['NUL character', 'a/\u0000'],
    ['over 65535 characters', 'a'.repeat(65536)],
  ])('%s is invalid', (_name, filter) => {
    expect(isValidTopicFilter(filter)).toBe(false);
  });

  it('accepts a filter of exactly 65535 characters', () => {
    expect(isValidTopicFilter('a'.repeat(65535))).toBe(true);
  });
});

describe('classifySubscription', () => {
  it.each([
    ['v1/devices/me/rpc/request/+', 'v1'],
    ['v1/devices/me/rpc/request/#', 'v1'],
    ['v2/r/req/+', 'v2'],
    ['v2/r/req/#', 'v2'],
    ['#', 'v1'],
    ['v1/#', 'v1'],
    ['v1/devices/me/#', 'v1'],
    ['v1/devices/me/rpc/#', 'v1'],
    ['+/devices/me/rpc/request/+', 'v1'],
    ['v2/#', 'v2'],
    ['v2/+/req/+', 'v2'],
  ] as const)('%s subscribes to RPC requests (%s)', (filter, style) => {
    expect(classifySubscription(filter)).toEqual({ kind: 'rpc-requests', style });
  });

  it.each([
    'v1/devices/me/attributes',
    'v1/devices/me/attributes/response/+',
    'v1/devices/me/rpc/response/+',
    'v2/a/res/+',
    'v1/gateway/rpc',
    'v1/gateway/attributes',
  ])('%s in the device namespace is accepted quietly', (filter) => {
    expect(classifySubscription(filter)).toEqual({ kind: 'accepted' });
  });

  it.each(['v1/devices/other/rpc/request/+', 'foo/#', 'foo', 'v1/devices', 'x/devices/me/#', '$SYS/#', 'v3/r/req/+'])(
    '%s outside the device namespace is not authorized',
    (filter) => {
      expect(classifySubscription(filter)).toEqual({ kind: 'not-authorized' });
    },
  );

  it.each(['', 'v1/devices/me/rpc/request/#/x', 'v1/devices/me/rpc/request/a+', 'v2/r/req/\u0000'])('%s is invalid', (filter) => {
    expect(classifySubscription(filter)).toEqual({ kind: 'invalid' });
  });

  it('an exact request topic is not an RPC subscription', () => {
    expect(classifySubscription('v1/devices/me/rpc/request/1').kind).not.toBe('rpc-requests');
  });
});

describe('hasWildcard', () => {
  it.each([
    ['a/+', true],
    ['a/#', true],
    ['a/b', false],
    ['', false],
  ] as const)('%s → %s', (topic, expected) => {
    expect(hasWildcard(topic)).toBe(expected);
  });
});

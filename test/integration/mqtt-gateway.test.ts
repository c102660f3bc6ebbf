import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, startTestServer, until, type TestServer } from '../support/server.js';

let t: TestServer;
const clients: MqttClient[] = [];
beforeAll(async () => {
  t = await startTestServer();
  t.server.handle('whoami', (_params, device) => ({ id: device.id, name: device.name, type: device.type }));
});
afterEach(() => {
  for (const client of clients.splice(0)) client.end(true);
});
afterAll(() => t.close());

const SUB_DEVICES = ['Sensor 1', 'Sensor 2', 'Sensor 3'];
const idByName = (name: string) => t.server.devices.list('tenant-a', 1000).data.find((d) => d.name === name)?.id;

interface GatewayRequest {
  device: string;
  data: { id: number; method: string; params: unknown };
}

/** gw-1 as a gateway: subscribes to v1/gateway/rpc, announces its sub-devices, answers for each. */
async function gateway(protocolVersion: 4 | 5 = 4, answer = true): Promise<{ client: MqttClient; requests: GatewayRequest[] }> {
  const client = await connectDevice(t.mqttUrl, 'TOKEN_GW', { protocolVersion });
  clients.push(client);
  const requests: GatewayRequest[] = [];
  client.on('message', (topic, payload) => {
    const message = JSON.parse(payload.toString()) as GatewayRequest & { id?: number };
    if (topic !== 'v1/gateway/rpc' || message.data?.method === undefined || message.id !== undefined) return;
    requests.push(message);
    if (answer) {
      client.publish('v1/gateway/rpc', JSON.stringify({ device: message.device, id: message.data.id, data: { from: message.device, method: message.data.method, params: message.data.params } }));
    }
  });
  await client.subscribeAsync('v1/gateway/rpc', { qos: 1 });
  for (const name of SUB_DEVICES) await client.publishAsync('v1/gateway/connect', JSON.stringify({ device: name }), { qos: 1 });
  return { client, requests };
}

describe('MQTT gateway', () => {
  it('three sub-devices are created on first connect, owned like the gateway, and answer calls through it', async () => {
    const { requests } = await gateway();
    const ids = SUB_DEVICES.map((name) => idByName(name));
    expect(ids.every((id) => id !== undefined)).toBe(true);
    for (const id of ids) {
      const device = t.server.devices.get(id!)!;
      expect(device).toMatchObject({ tenantId: 'tenant-a', customerId: null, type: 'default', gatewayId: 'gw-1', gateway: false });
      expect(t.server.devices.state(id!)).toBe('subscribed');
    }
    const replies = await Promise.all(ids.map((id, i) => t.server.call(id!, { method: 'getState', params: { n: i } })));
    expect(replies).toEqual(SUB_DEVICES.map((name, i) => ({ from: name, method: 'getState', params: { n: i } })));
    expect(requests.map((r) => r.device).sort()).toEqual([...SUB_DEVICES].sort());
  });

  it('a second connect reuses the device; a REST call reaches a sub-device too', async () => {
    const before = t.server.devices.list('tenant-a', 1000).totalElements;
    await gateway();
    expect(t.server.devices.list('tenant-a', 1000).totalElements).toBe(before);
    const login = await t.login({ email: 'admin@tenant-a.test', password: 'tenant-pass' });
    const res = await t.post(`/api/rpc/twoway/${idByName('Sensor 2')}`, { method: 'viaRest' }, login);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ from: 'Sensor 2', method: 'viaRest' });
  });

  it('one-way calls to a sub-device are done on the gateway PUBACK', async () => {
    const { requests } = await gateway(4, false);
    await expect(t.server.call(idByName('Sensor 3')!, { method: 'blink', oneway: true })).resolves.toBeUndefined();
    await until(() => requests.length === 1);
    expect(requests[0]).toMatchObject({ device: 'Sensor 3', data: { method: 'blink' } });
  });

  it('v1/gateway/disconnect ends one sub-device session; the gateway disconnect ends them all', async () => {
    const { client } = await gateway();
    await client.publishAsync('v1/gateway/disconnect', JSON.stringify({ device: 'Sensor 1' }), { qos: 1 });
    expect(t.server.devices.state(idByName('Sensor 1')!)).toBe('offline');
    expect(t.server.devices.state(idByName('Sensor 2')!)).toBe('subscribed');
    await expect(t.server.call(idByName('Sensor 1')!, { method: 'x', timeout: 100 })).rejects.toMatchObject({ code: 'IOT_ERR_DEVICE_OFFLINE' });
    client.end(true);
    await until(() => t.server.devices.state(idByName('Sensor 2')!) === 'offline' && t.server.devices.state(idByName('Sensor 3')!) === 'offline');
  });

  it('sub-devices announced before the gateway subscribes are connected-not-subscribed until it does', async () => {
    const client = await connectDevice(t.mqttUrl, 'TOKEN_GW');
    clients.push(client);
    await client.publishAsync('v1/gateway/connect', JSON.stringify({ device: 'Sensor 1' }), { qos: 1 });
    const id = idByName('Sensor 1')!;
    expect(t.server.devices.state(id)).toBe('connected');
    await client.subscribeAsync('v1/gateway/rpc', { qos: 0 });
    expect(t.server.devices.state(id)).toBe('subscribed');
  });

  it('client-side RPC from a sub-device is answered on v1/gateway/rpc with its id', async () => {
    const { client } = await gateway();
    const answer = new Promise<unknown>((resolve) =>
      client.on('message', (_topic, payload) => {
        const message = JSON.parse(payload.toString()) as { id?: number };
        if (message.id === 77) resolve(message);
      }),
    );
    client.publish('v1/gateway/rpc', JSON.stringify({ device: 'Sensor 2', data: { id: 77, method: 'whoami', params: {} } }));
    expect(await answer).toEqual({ device: 'Sensor 2', id: 77, data: { id: idByName('Sensor 2'), name: 'Sensor 2', type: 'default' } });
  });

  it('a device that is not a gateway may not use the gateway API', async () => {
    const client = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN', { protocolVersion: 5 });
    clients.push(client);
    const codes: number[] = [];
    client.on('packetreceive', (packet) => packet.cmd === 'puback' && codes.push(packet.reasonCode ?? 0));
    await client.publishAsync('v1/gateway/connect', JSON.stringify({ device: 'Sneaky' }), { qos: 1 }).catch(() => {});
    await until(() => codes.length === 1);
    expect(codes).toEqual([0x87]);
    expect(idByName('Sneaky')).toBeUndefined();
  });

  it('a gateway cannot take over a device it did not create, nor itself', async () => {
    const direct = await connectDevice(t.mqttUrl, 'TOKEN_A');
    clients.push(direct);
    const { client } = await gateway(5);
    const codes: number[] = [];
    client.on('packetreceive', (packet) => packet.cmd === 'puback' && codes.push(packet.reasonCode ?? 0));
    for (const name of ['Device A', 'Device Plain', 'Gateway 1']) {
      await client.publishAsync('v1/gateway/connect', JSON.stringify({ device: name }), { qos: 1 }).catch(() => {});
    }
    await until(() => codes.length === 3);
    expect(codes).toEqual([0x87, 0x87, 0x87]);
    expect(direct.connected).toBe(true);
    expect(t.server.devices.state('dev-a')).toBe('connected');
  });

  it('a reply for a disconnected or never announced sub-device neither revives nor creates it', async () => {
    const { client } = await gateway(5);
    const codes: number[] = [];
    client.on('packetreceive', (packet) => packet.cmd === 'puback' && codes.push(packet.reasonCode ?? 0));
    await client.publishAsync('v1/gateway/disconnect', JSON.stringify({ device: 'Sensor 1' }), { qos: 1 }).catch(() => {});
    await client.publishAsync('v1/gateway/rpc', JSON.stringify({ device: 'Sensor 1', id: 1, data: {} }), { qos: 1 }).catch(() => {});
    await client.publishAsync('v1/gateway/rpc', JSON.stringify({ device: 'Never Announced', data: { id: 1, method: 'whoami' } }), { qos: 1 }).catch(() => {});
    await until(() => codes.length === 3);
    expect(codes).toEqual([0, 0x10, 0x10]);
    expect(t.server.devices.state(idByName('Sensor 1')!)).toBe('offline');
    expect(idByName('Never Announced')).toBeUndefined();
  });

  it('malformed gateway messages are refused in PUBACK (MQTT 5) and the session goes on', async () => {
    const { client } = await gateway(5);
    const codes: number[] = [];
    client.on('packetreceive', (packet) => packet.cmd === 'puback' && codes.push(packet.reasonCode ?? 0));
    await client.publishAsync('v1/gateway/connect', 'not json', { qos: 1 }).catch(() => {});
    await client.publishAsync('v1/gateway/connect', JSON.stringify({ name: 'no device field' }), { qos: 1 }).catch(() => {});
    await client.publishAsync('v1/gateway/rpc', JSON.stringify({ device: 'Sensor 1', id: 424242, data: {} }), { qos: 1 }).catch(() => {});
    await until(() => codes.length >= 3);
    expect(codes.slice(-3)).toEqual([0x99, 0x99, 0x10]);
    await expect(t.server.call(idByName('Sensor 1')!, { method: 'still' })).resolves.toMatchObject({ from: 'Sensor 1' });
  });
});

describe('MQTT gateway limits', () => {
  it('a gateway creates at most limits.maxDevicesPerGateway devices', async () => {
    const limited = await startTestServer({ limits: { maxMqttPacketBytes: 65536, maxHttpBodyBytes: 65536, maxCoapPayloadBytes: 65536, maxDevicesPerGateway: 2 } });
    try {
      const client = await connectDevice(limited.mqttUrl, 'TOKEN_GW', { protocolVersion: 5 });
      const codes: number[] = [];
      client.on('packetreceive', (packet) => packet.cmd === 'puback' && codes.push(packet.reasonCode ?? 0));
      for (const name of ['One', 'Two', 'Three']) await client.publishAsync('v1/gateway/connect', JSON.stringify({ device: name }), { qos: 1 }).catch(() => {});
      await until(() => codes.length === 3);
      expect(codes).toEqual([0, 0, 0x87]);
      expect(limited.server.devices.list('tenant-a', 100).data.map((d) => d.name)).not.toContain('Three');
      client.end(true);
    } finally {
      await limited.close();
    }
  });

  it('MQTT 5 Receive Maximum 1: the limit is the gateway\'s, so a call held back for one sub-device goes out when another\'s is acknowledged', async () => {
    const client = await connectDevice(t.mqttUrl, 'TOKEN_GW', { protocolVersion: 5, properties: { receiveMaximum: 1 } });
    clients.push(client);
    client.on('message', (topic, payload) => {
      const message = JSON.parse(payload.toString()) as GatewayRequest & { id?: number };
      if (topic !== 'v1/gateway/rpc' || message.data?.method === undefined || message.id !== undefined) return;
      client.publish('v1/gateway/rpc', JSON.stringify({ device: message.device, id: message.data.id, data: { from: message.device } }));
    });
    await client.subscribeAsync('v1/gateway/rpc', { qos: 1 });
    for (const name of ['Limited 1', 'Limited 2']) await client.publishAsync('v1/gateway/connect', JSON.stringify({ device: name }), { qos: 1 });
    const [one, two] = ['Limited 1', 'Limited 2'].map((name) => idByName(name)!);
    const replies = await Promise.all([t.server.call(one!, { method: 'first', timeout: 3000 }), t.server.call(two!, { method: 'second', timeout: 3000 })]);
    expect(replies).toEqual([{ from: 'Limited 1' }, { from: 'Limited 2' }]);
  });
});

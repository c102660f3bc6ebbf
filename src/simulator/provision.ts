export interface ProvisionOptions {
  /** Base URL of the REST API, e.g. http://127.0.0.1:8080 */
  readonly httpUrl: string;
  /** A TENANT_ADMIN's credentials. */
  readonly username: string;
  readonly password: string;
  readonly devices: number;
  readonly tokenPrefix: string;
  readonly firstIndex?: number;
  readonly concurrency?: number;
}

export interface ProvisionResult {
  readonly created: number;
  readonly reused: number;
  /** Each device's name (also its access token) and the id the server gave it: calls name devices by id. */
  readonly devices: ReadonlyArray<{ readonly name: string; readonly id: string }>;
}

/**
 * Makes sure devices `${tokenPrefix}${i}` exist, through the REST API as a
 * tenant admin would: created when missing, reused when a device of that name
 * already exists (409).
 */
export async function provisionDevices(options: ProvisionOptions): Promise<ProvisionResult> {
  const base = options.httpUrl.replace(/\/$/, '');
  const login = await fetch(`${base}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: options.username, password: options.password }),
  });
  if (login.status !== 200) throw new Error(`login as ${options.username} at ${base} answered ${login.status}: ${await login.text()}`);
  const { token } = (await login.json()) as { token: string };
  let created = 0;
  let reused = 0;
  const provisioned: Array<{ name: string; id: string }> = [];
  const headers = { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` };
  const first = options.firstIndex ?? 0;
  const concurrency = options.concurrency ?? 32;
  let next = 0;
  const worker = async () => {
    while (next < options.devices) {
      const name = `${options.tokenPrefix}${first + next++}`;
      const res = await fetch(`${base}/api/device?accessToken=${encodeURIComponent(name)}`, { method: 'POST', headers, body: JSON.stringify({ name, type: 'simulated' }) });
      if (res.status === 200) {
        created++;
        provisioned.push({ name, id: ((await res.json()) as { id: { id: string } }).id.id });
        continue;
      }
      if (res.status !== 409) throw new Error(`creating device ${name} answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer().catch(() => undefined);
      // It exists: its id, by ThingsBoard's lookup by name.
      const found = await fetch(`${base}/api/tenant/devices?deviceName=${encodeURIComponent(name)}`, { headers });
      if (found.status !== 200) throw new Error(`device ${name} exists but looking it up answered ${found.status}: ${await found.text()}`);
      reused++;
      provisioned.push({ name, id: ((await found.json()) as { id: { id: string } }).id.id });
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, options.devices) }, worker));
  provisioned.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  return { created, reused, devices: provisioned };
}

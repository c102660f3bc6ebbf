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
  const first = options.firstIndex ?? 0;
  const concurrency = options.concurrency ?? 32;
  let next = 0;
  const worker = async () => {
    while (next < options.devices) {
      const name = `${options.tokenPrefix}${first + next++}`;
      const res = await fetch(`${base}/api/device?accessToken=${encodeURIComponent(name)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` },
        body: JSON.stringify({ name, type: 'simulated' }),
      });
      if (res.status === 200) created++;
      else if (res.status === 409) reused++;
      else throw new Error(`creating device ${name} answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer().catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, options.devices) }, worker));
  return { created, reused };
}

import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** Stored form: `scrypt$N$r$p$<salt base64>$<hash base64>`. */
const COST = { N: 16384, r: 8, p: 1 } as const;
const KEY_LENGTH = 64;

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_LENGTH, { ...options, maxmem: 64 * 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, COST);
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** `scrypt$N$r$p$salt$hash` with parameters node:crypto accepts within the memory it is given here. */
export function isPasswordHash(value: string): boolean {
  const match = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$[A-Za-z0-9+/=]{16,}\$[A-Za-z0-9+/=]{16,}$/.exec(value);
  if (match === null) return false;
  const [n, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const powerOfTwo = n >= 2 && (n & (n - 1)) === 0;
  return powerOfTwo && n <= 2 ** 20 && r >= 1 && r <= 32 && p >= 1 && p <= 16 && 128 * n * r <= 64 * 1024 * 1024;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (!isPasswordHash(stored)) return false;
  const [, n, r, p, salt, hash] = stored.split('$');
  const expected = Buffer.from(hash!, 'base64');
  const actual = await derive(password, Buffer.from(salt!, 'base64'), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * JSON-level mutations of a valid body: a field of the wrong type or
 * missing, deeply nested values (10,000 levels of `[`), huge strings,
 * extreme numbers, something that is not an object, broken text. Large
 * values are spliced in as text, never built as objects (JSON.stringify of
 * 30,000 levels would overflow this process's stack).
 */
import type { Rng } from '../prng.js';

export interface JsonText {
  text: string;
  label: string;
}

const PLACEHOLDER = 'FUZZ_PLACEHOLDER_7f3a';
const QUOTED = `"${PLACEHOLDER}"`;

const WRONG_VALUES: readonly unknown[] = [null, true, false, 0, -1, 1.5, 2 ** 53 + 2, -1e308, '', 'x', '1', 'true', [], [1, 'a', null], {}, { a: { b: [] } }, 'a'.repeat(300)];

export const deepNest = (depth: number, open: '[' | '{' = '['): string =>
  open === '[' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + 'null' + '}'.repeat(depth);

function hugeString(rng: Rng): { text: string; label: string } {
  const length = rng.pick([1000, 30_000, 60_000, 70_000, 200_000]);
  const unit = rng.pick(['x', '\\u0000', '\\ud800', '\\"', 'é', '😀', '\\\\']);
  const repeat = Math.ceil(length / unit.length);
  return { text: `"${unit.repeat(repeat)}"`, label: `huge-string(${repeat}x${JSON.stringify(unit)})` };
}

/** A path to a field of `value` (one level down sometimes), or [] when it has none. */
function somePath(rng: Rng, value: Record<string, unknown>): string[] {
  const keys = Object.keys(value);
  if (keys.length === 0) return [];
  const key = rng.pick(keys);
  const inner = value[key];
  if (inner !== null && typeof inner === 'object' && !Array.isArray(inner) && Object.keys(inner).length > 0 && rng.chance(0.4)) {
    return [key, ...somePath(rng, inner as Record<string, unknown>)];
  }
  return [key];
}

function withAt(value: Record<string, unknown>, path: string[], replacement: unknown): Record<string, unknown> {
  const copy = structuredClone(value);
  let node: Record<string, unknown> = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = path[path.length - 1];
  if (last === undefined) return copy;
  if (replacement === undefined) delete node[last];
  else node[last] = replacement;
  return copy;
}

/** `valid` with the field at a random path replaced by raw JSON text. */
function splice(rng: Rng, valid: Record<string, unknown>, raw: string): string {
  const path = somePath(rng, valid);
  if (path.length === 0) return raw;
  return JSON.stringify(withAt(valid, path, PLACEHOLDER)).replace(QUOTED, () => raw);
}

const NOT_OBJECTS = ['[]', '[{}]', '"text"', '42', 'null', 'true', '', ' ', '{}', '[[[[[]]]]]'];
const NUMBERS = ['1e400', '-0', '1.5', '9007199254740993', '1e-400', '0x10', 'NaN', 'Infinity', '-', '01', '1.', '.5', '1e'];

type Variant = (rng: Rng, valid: Record<string, unknown>) => JsonText;

const VARIANTS: ReadonlyArray<readonly [Variant, number]> = [
  [(_rng, valid) => ({ text: JSON.stringify(valid), label: 'valid' }), 30],
  [
    (rng, valid) => {
      const path = somePath(rng, valid);
      const wrong = rng.pick(WRONG_VALUES);
      return { text: JSON.stringify(withAt(valid, path, wrong)), label: `wrong-type(${path.join('.')}=${JSON.stringify(wrong).slice(0, 20)})` };
    },
    20,
  ],
  [
    (rng, valid) => {
      const path = somePath(rng, valid);
      return { text: JSON.stringify(withAt(valid, path, undefined)), label: `missing(${path.join('.')})` };
    },
    5,
  ],
  [
    (rng, valid) => {
      const extra = rng.pick(['"__proto__":{"polluted":true}', '"constructor":{"prototype":{"polluted":true}}', `"${rng.word(8)}":1`, '"method":"again"']);
      const text = JSON.stringify(valid);
      return { text: text === '{}' ? `{${extra}}` : `${text.slice(0, -1)},${extra}}`, label: `extra-field(${extra.slice(0, 20)})` };
    },
    5,
  ],
  [
    (rng, valid) => {
      const depth = rng.pick([100, 1000, 10_000, 30_000]);
      const open = rng.pick(['[', '{'] as const);
      return { text: splice(rng, valid, deepNest(depth, open)), label: `deep-nest(${depth}${open})` };
    },
    10,
  ],
  [
    (rng, valid) => {
      const huge = hugeString(rng);
      return { text: splice(rng, valid, huge.text), label: huge.label };
    },
    10,
  ],
  [
    (rng, valid) => {
      const number = rng.pick(NUMBERS);
      return { text: splice(rng, valid, number), label: `number(${number})` };
    },
    5,
  ],
  [
    (rng) => {
      const text = rng.pick(NOT_OBJECTS);
      return { text, label: `not-an-object(${text})` };
    },
    5,
  ],
  [
    (rng, valid) => {
      const text = JSON.stringify(valid);
      const broken = rng.pick([
        () => ({ text: text.slice(0, rng.int(text.length)), label: 'truncated' }),
        () => ({ text: `${text}${rng.pick(['}', ']', ',', 'x', '{}', '\u0000'])}`, label: 'trailing' }),
        () => ({ text: `\ufeff${text}`, label: 'bom' }),
        () => ({ text: text.replace(/,/, ',/*c*/'), label: 'comment' }),
        () => ({ text: text.replace(/"/g, "'"), label: 'single-quotes' }),
        () => ({ text: `${text.slice(0, -1)},"method":"x","method":"y"}`, label: 'duplicate-keys' }),
      ])();
      return { text: broken.text, label: `broken-text(${broken.label})` };
    },
    10,
  ],
];

/** A JSON text for `valid`: as it is (about a third of the time) or mutated. */
export function fuzzJson(rng: Rng, valid: Record<string, unknown>): JsonText {
  return rng.weighted(VARIANTS)(rng, valid);
}

import { describe, expect, it } from 'vitest';
import { JsonTooDeepError, nestsDeeperThan, parseBoundedJson } from '../../src/bounded-json.js';

describe('bounded JSON', () => {
  it('counts objects and arrays, not brackets inside strings', () => {
    expect(nestsDeeperThan('{"a":[{"b":[1]}]}', 4)).toBe(false);
    expect(nestsDeeperThan('{"a":[{"b":[1]}]}', 3)).toBe(true);
    expect(nestsDeeperThan(`{"s":"${'['.repeat(100)}"}`, 2)).toBe(false);
    expect(nestsDeeperThan(`{"s":"\\"${'['.repeat(100)}"}`, 2)).toBe(false);
  });

  it('depth 32 parses, 33 is refused before JSON.parse sees it', () => {
    expect(parseBoundedJson(`${'['.repeat(32)}${']'.repeat(32)}`, 32)).toBeInstanceOf(Array);
    expect(() => parseBoundedJson(`${'['.repeat(33)}${']'.repeat(33)}`, 32)).toThrow(JsonTooDeepError);
    expect(() => parseBoundedJson('['.repeat(1_000_000), 32)).toThrow('JSON nested deeper than 32 levels');
  });

  it('text that is not JSON is still a SyntaxError', () => {
    expect(() => parseBoundedJson('{nope', 32)).toThrow(SyntaxError);
  });
});

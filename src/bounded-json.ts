/**
 * JSON from outside (REST bodies, WebSocket frames, device replies and requests) is parsed only when it nests at
 * most `limits.maxJsonDepth` levels. JSON.parse takes 30,000 levels of `[` happily, but what is built from such a
 * value later (JSON.stringify of a stored call, Redis's cjson, a recursive walk) overflows the stack, and then every
 * reader of that value gets a 500. The depth is counted before parsing, in one pass that skips strings.
 */
export const DEFAULT_MAX_JSON_DEPTH = 32;

const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Whether JSON text nests objects and arrays deeper than `maxDepth`. Text that is not JSON may give either answer. */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  // Fewer characters than brackets needed: nothing to count (most device replies).
  if (text.length <= maxDepth * 2) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

export class JsonTooDeepError extends Error {
  constructor(readonly maxDepth: number) {
    super(`JSON nested deeper than ${maxDepth} levels`);
  }
}

/** JSON.parse, refusing text nested deeper than `maxDepth` (JsonTooDeepError); a SyntaxError for text that is not JSON. */
export function parseBoundedJson(text: string, maxDepth: number): unknown {
  if (nestsDeeperThan(text, maxDepth)) throw new JsonTooDeepError(maxDepth);
  return JSON.parse(text);
}

/** The one request every compared system sends; devices echo its params. */
export const METHOD = 'echo';
export const PARAMS = { value: 42, unit: 'C', label: 'benchmark' };
/** Each system serializes the request per call, as an application sending changing params must. */
export const requestJson = (): string => JSON.stringify({ method: METHOD, params: PARAMS });
export const CALL_TIMEOUT_MS = 10_000;
export const TOKEN_PREFIX = 'bench-';

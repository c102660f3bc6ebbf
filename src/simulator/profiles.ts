/**
 * How a simulated device answers server-side calls. A profile is created per
 * device, so stateful ones keep their state per device.
 */
export type DeviceBehaviour = (method: string, params: unknown) => unknown;
export type ProfileName = 'echo' | 'gpio';
export const PROFILE_NAMES: readonly ProfileName[] = ['echo', 'gpio'];

/** Returns the params it was called with. */
function echo(): DeviceBehaviour {
  return (_method, params) => params;
}

/**
 * The contracts of ThingsBoard's RPC widgets: pins keyed by number with an enabled flag (GPIO control), one value
 * (switch: a boolean, knob: a number: `getValue` / `setValue`), a state (`getState` / `setState`), and `checkStatus`
 * (the LED indicator: true while the value is truthy).
 */
function gpio(): DeviceBehaviour {
  const pins: Record<string, boolean> = { '1': false, '2': false, '3': false, '4': false, '5': false, '6': false, '7': false };
  let value: number | boolean = 0;
  let state: unknown = null;
  return (method, params) => {
    switch (method) {
      case 'getGpioStatus':
        return { ...pins };
      case 'setGpioStatus': {
        const { pin, enabled } = (params ?? {}) as { pin?: unknown; enabled?: unknown };
        if ((typeof pin !== 'number' && typeof pin !== 'string') || typeof enabled !== 'boolean') {
          return { error: 'setGpioStatus needs {"pin": number, "enabled": boolean}' };
        }
        pins[String(pin)] = enabled;
        return { ...pins };
      }
      case 'getValue':
        return value;
      case 'setValue': {
        const next = typeof params === 'number' || typeof params === 'boolean' ? params : (params as { value?: unknown } | null)?.value;
        if (typeof next !== 'number' && typeof next !== 'boolean') return { error: 'setValue needs a number or a boolean' };
        value = next;
        return value;
      }
      case 'checkStatus':
        return Boolean(value);
      case 'getState':
        return state;
      case 'setState':
        state = params ?? null;
        return state;
      default:
        return { error: `Unknown method: ${method}` };
    }
  };
}

export function createBehaviour(profile: ProfileName): DeviceBehaviour {
  return profile === 'gpio' ? gpio() : echo();
}

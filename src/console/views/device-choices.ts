import type { Principal, Session } from '../session.js';

/** Where the user's devices are listed: a customer user's customer, or the tenant's. */
export function deviceListPath(principal: Principal): string {
  return principal.role === 'CUSTOMER_USER' ? `/api/customer/${encodeURIComponent(principal.customerId ?? '')}/devices` : '/api/tenant/devices';
}

export interface DeviceChoice {
  readonly id: string;
  readonly name: string;
}

/** The devices the user may reach, for a picker (the first 1000 by name). */
export async function deviceChoices(session: Session): Promise<DeviceChoice[]> {
  const page = await session.api.request<{ data: Array<{ id: { id: string }; name: string }> }>('GET', `${deviceListPath(session.principal!)}?pageSize=1000&page=0`);
  return page.data.map((device) => ({ id: device.id.id, name: device.name }));
}

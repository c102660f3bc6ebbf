import type { Session } from '../session.js';

export interface DeviceChoice {
  readonly id: string;
  readonly name: string;
}

/** The devices the user may reach, for a picker (the first 1000 by name). */
export async function deviceChoices(session: Session): Promise<DeviceChoice[]> {
  const principal = session.principal!;
  const base = principal.role === 'CUSTOMER_USER' ? `/api/customer/${encodeURIComponent(principal.customerId ?? '')}/devices` : '/api/tenant/devices';
  const page = await session.api.request<{ data: Array<{ id: { id: string }; name: string }> }>('GET', `${base}?pageSize=1000&page=0`);
  return page.data.map((device) => ({ id: device.id.id, name: device.name }));
}

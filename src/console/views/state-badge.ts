import { css, html } from 'lit';

export const badgeStyles = css`
  .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
  .badge.offline { background: #f2f4f7; color: #475467; }
  .badge.connected { background: #fef0c7; color: #93370d; }
  .badge.subscribed { background: #d1fadf; color: #05603a; }
`;

/** A device's live session state, as a badge. */
export const stateBadge = (state: string | undefined) => html`<span class="badge ${state ?? 'offline'}" data-state=${state ?? 'offline'}>${state ?? 'offline'}</span>`;

export const since = (timestamp: number | undefined) => (timestamp === undefined ? '' : `since ${new Date(timestamp).toLocaleTimeString()}`);

export { ActorSystem } from './system.js';
export type { ActorSystemEvents, ActorSystemOptions, CallEvent, CallRequest, CallStatus, DeliveryOrder, SessionEvent } from './system.js';
export type { CloseReason, DeliveryResult, OutgoingRequest, SessionLink } from './session-link.js';

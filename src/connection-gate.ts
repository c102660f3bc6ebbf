import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { endSocketWithError } from './api/http-io.js';
import { RpcError } from './errors.js';

/** A socket whose side the server has ended is destroyed this long after, if the peer never closes its own. */
const HALF_CLOSED_GRACE_MS = 1000;
const SLOT = Symbol('connectionGateSlot');
type Gated = Duplex & { [SLOT]?: () => void };

/**
 * The HTTP listener: a TCP server that hands each connection to node:http (`accepted`) while fewer than `max` are
 * open, and answers one more with a raw 503 IOT_ERR_OVERLOADED (Retry-After: 1). A slot is free again when the
 * socket closes, when the server has ended its side (a peer that never sends its FIN does not keep it; its socket is
 * destroyed soon after), or when the connection leaves HTTP (an MQTT-over-WebSocket upgrade, counted by the MQTT
 * listener's own cap).
 */
export class ConnectionGate {
  readonly server: Server;
  #open = 0;

  constructor(max: number, accepted: (socket: Socket) => void) {
    this.server = createServer({ noDelay: true }, (socket: Socket & Gated) => {
      socket.on('error', () => socket.destroy());
      if (this.#open >= max) {
        endSocketWithError(socket, new RpcError('IOT_ERR_OVERLOADED', `${max} connections are open`));
        destroyAfterEnd(socket);
        return;
      }
      this.#open++;
      let held = true;
      socket[SLOT] = () => {
        if (!held) return;
        held = false;
        this.#open--;
      };
      socket.once('close', socket[SLOT]);
      socket.once('finish', () => {
        socket[SLOT]?.();
        destroyAfterEnd(socket);
      });
      accepted(socket);
    });
  }

  /** Connections counted now. */
  get open(): number {
    return this.#open;
  }

  /** The connection is no longer HTTP's to count. */
  release(socket: Duplex): void {
    (socket as Gated)[SLOT]?.();
  }
}

function destroyAfterEnd(socket: Duplex): void {
  if (socket.destroyed) return;
  setTimeout(() => socket.destroy(), HALF_CLOSED_GRACE_MS).unref();
}

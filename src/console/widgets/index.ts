/**
 * The embeddable widgets, as custom elements, for an application's own pages:
 *   <script type="module" src="https://your-iot-rpc/console/widgets.js"></script>
 *   <iot-rpc-gpio device="…" token="…"></iot-rpc-gpio>
 */
import { GpioWidget } from './gpio-widget.js';
import { RpcTerminal } from './rpc-terminal.js';

export { GpioWidget, RpcTerminal };

const define = (name: string, element: CustomElementConstructor) => customElements.get(name) ?? customElements.define(name, element);
define('iot-rpc-gpio', GpioWidget);
define('iot-rpc-terminal', RpcTerminal);

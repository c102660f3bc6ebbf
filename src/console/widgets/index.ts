/**
 * The embeddable widgets, as custom elements, for an application's own pages:
 *   <script type="module" src="https://your-iot-rpc/console/widgets.js"></script>
 *   <iot-rpc-gpio device="…" token="…"></iot-rpc-gpio>
 */
import { CommandButton } from './command-button.js';
import { GpioWidget } from './gpio-widget.js';
import { KnobWidget } from './knob-widget.js';
import { LedWidget } from './led-widget.js';
import { PersistentTable } from './persistent-table.js';
import { RpcTerminal } from './rpc-terminal.js';
import { SwitchWidget } from './switch-widget.js';

export { CommandButton, GpioWidget, KnobWidget, LedWidget, PersistentTable, RpcTerminal, SwitchWidget };

const define = (name: string, element: CustomElementConstructor) => customElements.get(name) ?? customElements.define(name, element);
define('iot-rpc-gpio', GpioWidget);
define('iot-rpc-terminal', RpcTerminal);
define('iot-rpc-switch', SwitchWidget);
define('iot-rpc-knob', KnobWidget);
define('iot-rpc-led', LedWidget);
define('iot-rpc-button', CommandButton);
define('iot-rpc-persistent-table', PersistentTable);

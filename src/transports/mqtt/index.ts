export { MqttServer } from './server.js';

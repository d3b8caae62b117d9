// One process kind: the webhook receiver, API and UI. Stateless: run as many as the load needs.
import { main } from '../src/main.js';

await main(['http']);

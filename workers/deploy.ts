// One process kind: the deploy worker. Scale by running more of these against the same Redis.
import { main } from '../src/main.js';

await main(['deploy']);

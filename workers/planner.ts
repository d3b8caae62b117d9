// One process kind: the planner worker. Scale by running more of these against the same Redis.
import { main } from '../src/main.js';

await main(['planner']);

import { afterEach } from '@jest/globals';
import { closeLeftovers } from '../helpers/leftovers.js';

afterEach(closeLeftovers, 60_000);

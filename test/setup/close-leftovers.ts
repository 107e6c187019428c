import { afterAll, afterEach, beforeEach } from '@jest/globals';
import { closeFileLeftovers, closeTestLeftovers, testStarted } from '../helpers/leftovers.js';

beforeEach(testStarted);
afterEach(closeTestLeftovers, 60_000);
afterAll(closeFileLeftovers, 60_000);

import { InvalidInputError } from '../errors.js';

/** A commander argument parser for `flag` that takes whole numbers from 1 up, else exit 2 naming the flag. */
export function positiveInteger(flag: string): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidInputError(`${flag}: ${JSON.stringify(value)} is not a positive integer`);
    return Number(value);
  };
}

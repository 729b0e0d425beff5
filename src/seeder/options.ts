/**
 * What `--seed` and `--scale` may be, as pure checks: the Seeder refuses anything else before it
 * runs a seed, and the CLI refuses it while parsing its flags (so a typo never touches a database).
 */

/** Why `seed` cannot be a seed number (a safe integer: it is recorded, and it must read back the same), or undefined. */
export const seedNumberProblem = (seed: number): string | undefined =>
  Number.isSafeInteger(seed)
    ? undefined
    : `--seed must be a whole number between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}, not ${seed}`

/** Why `scale` cannot be a scale (a finite number above 0; 1 is the default size), or undefined. */
export const scaleProblem = (scale: number): string | undefined =>
  Number.isFinite(scale) && scale > 0
    ? undefined
    : `--scale must be a number greater than 0 (1 is the default size, 0.5 half, 2 twice), not ${scale}`

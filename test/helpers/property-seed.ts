/**
 * One pinned seed for the fast-check properties of a test file: MARSHAL_PROPERTY_SEED when set (to
 * replay a failure), else a fixed default, so every run checks the same cases and no test depends
 * on luck. A property test file calls {@link pinPropertySeed} once at its top; the seed is printed
 * there, and fast-check repeats it (with the counterexample's path) in any failure.
 */
import fc from 'fast-check';

/** The seed used when MARSHAL_PROPERTY_SEED is not set. */
export const DEFAULT_PROPERTY_SEED = 20_261_202;

/** The seed of this run. */
export const PROPERTY_SEED = seedFromEnv(process.env.MARSHAL_PROPERTY_SEED);

function seedFromEnv(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return DEFAULT_PROPERTY_SEED;
  if (!/^-?\d+$/.test(raw.trim())) {
    throw new Error(`MARSHAL_PROPERTY_SEED must be a decimal integer, got ${JSON.stringify(raw)}`);
  }
  // fast-check seeds are 32-bit integers.
  return Number(raw) | 0;
}

/** Configures fast-check with {@link PROPERTY_SEED} for this test file and prints it. */
export function pinPropertySeed(): number {
  fc.configureGlobal({ ...fc.readConfigureGlobal(), seed: PROPERTY_SEED });
  console.log(`fast-check seed ${PROPERTY_SEED} (replay with MARSHAL_PROPERTY_SEED=${PROPERTY_SEED})`);
  return PROPERTY_SEED;
}

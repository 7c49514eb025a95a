/**
 * Response bodies the gateway test helpers read, kept so a suite can check that
 * no issued token reached them; the suite-wide token scan
 * (scripts/soak/LeakSetup.ts) reads them too.
 */
export const responseBodies: Array<string> = []

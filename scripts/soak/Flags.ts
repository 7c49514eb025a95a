/** The soak's command lines (scripts/soak.ts and ./ReplicasMain.ts): `--flag value` or `--flag=value`. */

export const positive = (flag: string, value: string | undefined): number => {
  const number = Number(value)
  if (value === undefined || !Number.isFinite(number) || number <= 0) {
    throw new Error(`${flag} needs a positive number`)
  }
  return number
}

/**
 * Calls `handle` with each flag and a reader of its value (the inline one, else
 * the next argument); a flag `handle` does not take (returns false) is refused.
 */
export const parseFlags = (
  argv: ReadonlyArray<string>,
  handle: (flag: string, value: () => string | undefined) => boolean
): void => {
  for (let i = 0; i < argv.length; i++) {
    const [flag = "", inline] = (argv[i] ?? "").split(/=(.*)/s)
    if (flag === "--") continue
    if (!handle(flag, () => inline ?? argv[++i])) throw new Error(`unknown argument ${flag}`)
  }
}

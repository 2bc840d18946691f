/**
 * The numbers of the command line: standard input to doubles, and doubles back to text.
 * Nothing here knows about gRPC.
 */

/** A decimal token as any language's shortest round-trip formatting writes it. */
const DECIMAL = /^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$/;

/** Sent as they are, so that the server's validation is exercised. */
const SPECIAL = new Set(["NaN", "Infinity", "-Infinity"]);

/** A token of standard input that is not a number; nothing may be sent when one is seen. */
export class BadTokenError extends Error {
  constructor(readonly token: string) {
    super(`${JSON.stringify(token)} is not a number`);
    this.name = "BadTokenError";
  }
}

/**
 * Parses whitespace-separated tokens into correctly rounded doubles. Each token is checked
 * against the grammar first: `Number()` alone would also take `0x10`, `0b1` and the empty string.
 */
export function parseNumbers(input: string): number[] {
  const numbers: number[] = [];
  for (const token of input.split(/\s+/)) {
    if (token === "") {
      continue;
    }
    if (!SPECIAL.has(token) && !DECIMAL.test(token)) {
      throw new BadTokenError(token);
    }
    numbers.push(Number(token));
  }
  return numbers;
}

/**
 * The shortest text that parses back to the same double. `String()` already gives the shortest
 * round-trip form, but drops the sign of negative zero.
 */
export function formatDouble(value: number): string {
  return Object.is(value, -0) ? "-0" : String(value);
}

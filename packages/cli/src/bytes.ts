/** Whether two byte arrays hold the same bytes (public values only: not constant-time). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

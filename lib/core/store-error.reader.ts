/** Whether a store error leaves open that the operation ran (see LedgerStore). */
export function mayHaveApplied(error: unknown): boolean {
  return (error as { mayHaveApplied?: unknown } | null)?.mayHaveApplied !== false;
}

/** The message of a thrown value, whatever was thrown. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

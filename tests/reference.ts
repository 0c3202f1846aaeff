import * as path from "path";

/** Root of the read-only reference data (`<repo>/../shared/reference`). */
export const REFERENCE_DIR = path.resolve(__dirname, "../../shared/reference");

/** Absolute path of a file under the reference data directory. */
export function referencePath(...segments: string[]): string {
  return path.join(REFERENCE_DIR, ...segments);
}

/**
 * Image patterns of the admission policy (shared by the config check and the ClusterPolicy builder). A Kyverno string
 * pattern gives some characters a meaning beyond the wildcards `*` and `?`: pkg/engine/pattern/pattern.go
 * (kyverno v1.18.2) splits a pattern on `|` (any of) and `&` (all of) and trims spaces, and
 * pkg/engine/operator/operator.go reads a leading `<`, `>`, `!` (and `<=`, `>=`, `!=`) as a comparison. An allowed
 * image pattern must use none of them, or it would admit something else than it says.
 */
export const PATTERN_OPERATORS = /[|&\s]|^[<>!=]/;

/** Whether `p` is a plain image wildcard pattern (non-empty, none of Kyverno's pattern operators). */
export function isPlainImagePattern(p: string): boolean {
    return p !== "" && !PATTERN_OPERATORS.test(p);
}

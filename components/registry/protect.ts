/**
 * The tags retention never expires, for ECR and Harbor alike: the releases a stack deploys first (ECR gives them the
 * top priorities), then the configured patterns not already listed.
 */
export function protectPatterns(deployed: readonly string[], configured: readonly string[]): string[] {
    return [...new Set([...deployed, ...configured])];
}

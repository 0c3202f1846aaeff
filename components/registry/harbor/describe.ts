/** Human-readable form of the Harbor retention policy the registry declares (pure; for `npm run plan`). */
import type { RetentionInput } from "../ecrLifecycle";

export function describeHarborRetention(retention: RetentionInput, releasePattern = "v*"): string[] {
    return [
        ...retention.protectTags.map((p) => `retain always: artifacts tagged "${p}" (protected, never removed)`),
        `retain the ${retention.keepReleases} most recently pushed artifacts tagged "${releasePattern}"`,
        `retain every artifact pushed within the last ${retention.untaggedDays} days; older untagged artifacts are removed`,
        "anything else (other tags older than that) is removed by the daily retention run",
        `tags "${releasePattern}" are immutable (tag immutability rule)`,
    ];
}

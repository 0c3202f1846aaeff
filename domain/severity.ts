/**
 * Vulnerability severity names of the two scanners model-fleet reads, and one order over them (pure).
 *
 * - Harbor (Trivy behind it): the project metadata `severity` accepts "none", "low", "medium", "high", "critical"
 *   (Harbor swagger `ProjectMetadata.severity`, /work/shared/reference/harbor-v2.0-swagger.yaml); scan summaries
 *   count findings as "Critical", "High", "Medium", "Low", "Negligible", "Unknown", "None"
 *   (goharbor/harbor src/pkg/scan/vuln/severity.go).
 * - Amazon ECR: basic and enhanced (Amazon Inspector) findings carry INFORMATIONAL, LOW, MEDIUM, HIGH, CRITICAL or
 *   UNTRIAGED (ECR API `ImageScanFinding.severity` / `EnhancedImageScanFinding.severity`; basic scanning also
 *   reports UNDEFINED).
 *
 * A threshold is configured in the registry's own vocabulary (checked at config time); both map onto one rank so
 * that promotion compares findings from either registry the same way. Findings whose severity is not triaged
 * (UNTRIAGED, UNDEFINED, Unknown) have no rank: they are listed but never reach a threshold (docs/design/supply-chain.md).
 */

/** Harbor's project `severity` values (the swagger's list); "none" blocks nothing. */
export const HARBOR_SEVERITIES = ["none", "low", "medium", "high", "critical"] as const;
/** Amazon Inspector / ECR finding severities. */
export const INSPECTOR_SEVERITIES = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL", "UNTRIAGED"] as const;
/** Inspector levels a threshold may name: UNTRIAGED orders nothing. */
export const INSPECTOR_THRESHOLDS = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"] as const;

export type HarborSeverity = (typeof HARBOR_SEVERITIES)[number];
export type InspectorSeverity = (typeof INSPECTOR_SEVERITIES)[number];

/** Rank of a finding or threshold name from either scanner (case-insensitive); undefined: untriaged or unknown. */
export function severityRank(name: string): number | undefined {
    switch (name.toLowerCase()) {
        case "informational":
        case "negligible":
        case "none":
            return 0;
        case "low":
            return 1;
        case "medium":
            return 2;
        case "high":
            return 3;
        case "critical":
            return 4;
        default:
            return undefined;
    }
}

/** Which scanner's names a registry type takes ("ecr" → Inspector's, "harbor" → Harbor's). */
export function thresholdNames(registryType: string): readonly string[] {
    return registryType === "harbor" ? HARBOR_SEVERITIES : INSPECTOR_THRESHOLDS;
}

/** The Harbor project `severity` for a threshold (already validated for the registry type). */
export function harborSeverity(threshold: string): HarborSeverity {
    const lower = threshold.toLowerCase();
    if ((HARBOR_SEVERITIES as readonly string[]).includes(lower)) return lower as HarborSeverity;
    throw new Error(`${threshold} is not a Harbor severity (${HARBOR_SEVERITIES.join(", ")})`);
}

/** Default threshold per registry type: HIGH findings (and CRITICAL) block promotion. */
export function defaultThreshold(registryType: string): string {
    return registryType === "harbor" ? "high" : "HIGH";
}

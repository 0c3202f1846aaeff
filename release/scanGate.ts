/**
 * The promotion gate on scan results (pure): a digest is promoted only when its registry has a finished scan whose
 * findings all stay below the configured severity, or with a recorded override (`--allow-vulnerable <reason>`).
 *
 * Inputs are normalised from the two registries' answers:
 *  - ECR `DescribeImageScanFindings` (basic: `imageScanFindings.findings[]` with `name`, `severity`, `uri`, attributes
 *    `package_name`/`package_version`; enhanced/Inspector: `enhancedFindings[]` with `severity`,
 *    `packageVulnerabilityDetails.vulnerabilityId` and `vulnerablePackages[]`); `imageScanStatus.status` COMPLETE
 *    (basic) or ACTIVE (enhanced, continuous) means a result exists (ECR API reference, ImageScanStatus);
 *  - Harbor `GET …/artifacts/{digest}?with_scan_overview=true`: `scan_overview` maps a report MIME type to a
 *    `NativeReportSummary` (`scan_status` "Success" when done, `summary.summary` counts per severity; swagger).
 */
import { severityRank } from "../domain/severity";

export interface Finding {
    /** CVE or advisory id. */
    id: string;
    /** The scanner's own severity name. */
    severity: string;
    package?: string;
    version?: string;
    fixedIn?: string;
    uri?: string;
}

export interface ScanResult {
    /** Where the result came from, e.g. `ECR enhanced (Amazon Inspector)` or `Harbor (Trivy)`. */
    scanner: string;
    /** done: findings are final; pending: scanning or not yet scanned; failed: the scan failed; none: never scanned. */
    state: "done" | "pending" | "failed" | "none";
    /** The registry's status text, shown to the user. */
    status: string;
    /** Count of findings per severity name, as the scanner reports them. */
    counts: Record<string, number>;
    /** Individual findings, where the scanner lists them (Harbor's overview has counts only). */
    findings: Finding[];
}

export interface GateOverride {
    reason: string;
    by: string;
    at: string;
}

export interface GateDecision {
    allowed: boolean;
    /** True when allowed only by the override. */
    overridden: boolean;
    /** One line: why. */
    summary: string;
    /** Counts of findings at or above the threshold, per severity, e.g. `CRITICAL 1, HIGH 3`. */
    blocking: string;
}

const ORDER = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "NEGLIGIBLE", "NONE", "UNTRIAGED", "UNDEFINED", "UNKNOWN"];
const orderOf = (s: string) => {
    const i = ORDER.indexOf(s.toUpperCase());
    return i === -1 ? ORDER.length : i;
};

/** `{CRITICAL: 1, HIGH: 3}` → `CRITICAL 1, HIGH 3` (most severe first, zero counts left out). */
export function formatCounts(counts: Record<string, number>): string {
    return Object.entries(counts)
        .filter(([, n]) => n > 0)
        .sort((a, b) => orderOf(a[0]) - orderOf(b[0]))
        .map(([s, n]) => `${s} ${n}`)
        .join(", ");
}

/** Decides whether a digest may be promoted, given its scan result, the threshold and an optional override. */
export function decideScanGate(result: ScanResult, threshold: string, override?: GateOverride): GateDecision {
    const min = severityRank(threshold);
    if (min === undefined) throw new Error(`threshold ${JSON.stringify(threshold)} is not a severity level`);
    const refuse = (summary: string, blocking = ""): GateDecision =>
        override
            ? {
                  allowed: true,
                  overridden: true,
                  summary: `${summary}; promoted anyway: --allow-vulnerable "${override.reason}" (${override.by}, ${override.at})`,
                  blocking,
              }
            : { allowed: false, overridden: false, summary, blocking };
    if (result.state !== "done") {
        const why = { pending: "has no scan result yet", failed: "has a failed scan", none: "has never been scanned" }[result.state];
        return refuse(`${result.scanner}: the digest ${why} (status ${result.status})`);
    }
    const blocking = Object.fromEntries(Object.entries(result.counts).filter(([s, n]) => n > 0 && (severityRank(s) ?? -1) >= min));
    const text = formatCounts(blocking);
    if (text !== "") {
        return refuse(`${result.scanner}: findings at or above ${threshold}: ${text}`, text);
    }
    const all = formatCounts(result.counts);
    return {
        allowed: true,
        overridden: false,
        summary: `${result.scanner}: no finding at or above ${threshold}${all ? ` (found: ${all})` : " (no findings)"}`,
        blocking: "",
    };
}

/** The findings as rows for a table: most severe first, then by id. */
export function findingRows(result: ScanResult): string[][] {
    if (result.findings.length === 0) {
        return Object.entries(result.counts)
            .filter(([, n]) => n > 0)
            .sort((a, b) => orderOf(a[0]) - orderOf(b[0]))
            .map(([s, n]) => [s, String(n), "(counts only)", "", ""]);
    }
    return [...result.findings]
        .sort((a, b) => orderOf(a.severity) - orderOf(b.severity) || a.id.localeCompare(b.id))
        .map((f) => [f.severity, f.id, f.package ? `${f.package}${f.version ? ` ${f.version}` : ""}` : "", f.fixedIn ?? "", f.uri ?? ""]);
}

export const FINDING_COLUMNS = ["severity", "id", "package", "fixed in", "link"];

/** ECR: one `DescribeImageScanFindings` answer per page → ScanResult. */
export function ecrScanResult(pages: ReadonlyArray<Record<string, any>>, enhanced: boolean): ScanResult {
    const first = pages[0] ?? {};
    const status = String(first.imageScanStatus?.status ?? "UNKNOWN");
    const scanner = enhanced ? "ECR enhanced scanning (Amazon Inspector)" : "ECR basic scanning";
    const findings: Finding[] = [];
    const attr = (f: any, key: string) => (Array.isArray(f.attributes) ? f.attributes.find((a: any) => a.key === key)?.value : undefined);
    for (const page of pages) {
        const sf = page.imageScanFindings ?? {};
        for (const f of sf.findings ?? []) {
            findings.push({
                id: String(f.name),
                severity: String(f.severity ?? "UNDEFINED"),
                package: attr(f, "package_name"),
                version: attr(f, "package_version"),
                uri: f.uri,
            });
        }
        for (const f of sf.enhancedFindings ?? []) {
            const d = f.packageVulnerabilityDetails ?? {};
            const pkg = (d.vulnerablePackages ?? [])[0] ?? {};
            findings.push({
                id: String(d.vulnerabilityId ?? f.title ?? f.findingArn),
                severity: String(f.severity ?? "UNTRIAGED"),
                package: pkg.name,
                version: pkg.version,
                fixedIn: pkg.fixedInVersion,
                uri: d.sourceUrl,
            });
        }
    }
    const reported: Record<string, number> = { ...(first.imageScanFindings?.findingSeverityCounts ?? {}) };
    const counted: Record<string, number> = {};
    for (const f of findings) counted[f.severity] = (counted[f.severity] ?? 0) + 1;
    const state: ScanResult["state"] =
        status === "COMPLETE" || status === "ACTIVE"
            ? "done"
            : status === "FAILED" || status === "UNSUPPORTED_IMAGE" || status === "FINDINGS_UNAVAILABLE"
              ? "failed"
              : "pending";
    // ECR's own counts cover every finding, even on pages not fetched; the listed ones are the fallback.
    return { scanner, state, status, counts: Object.keys(reported).length > 0 ? reported : counted, findings };
}

/** Harbor: the artifact (fetched `with_scan_overview=true`) → ScanResult; undefined artifact: not in the registry. */
export function harborScanResult(artifact: Record<string, any> | undefined): ScanResult {
    const scanner = "Harbor (its scanner, Trivy)";
    if (!artifact) return { scanner, state: "none", status: "artifact not found", counts: {}, findings: [] };
    const reports = Object.values<any>(artifact.scan_overview ?? {});
    if (reports.length === 0) return { scanner, state: "none", status: "not scanned", counts: {}, findings: [] };
    const report = reports[0];
    const status = String(report.scan_status ?? "Unknown");
    const state: ScanResult["state"] = status === "Success" ? "done" : status === "Error" || status === "Stopped" ? "failed" : "pending";
    const counts: Record<string, number> = {};
    for (const [s, n] of Object.entries<any>(report.summary?.summary ?? {})) counts[s] = Number(n);
    return { scanner, state, status, counts, findings: [] };
}

/**
 * `--allow-vulnerable` cannot reach Harbor: the program sets the Harbor project's `prevent_vul` at the scan
 * severity (components/registry/ModelRegistry.ts), and Harbor's pull check refuses an artifact with findings at or
 * above it, whatever promote records (goharbor/harbor src/server/middleware/vulnerable/vulnerable.go). An override
 * there would pass promotion and then fail every pull of the pods, after approval. The message refusing it, or
 * undefined when the decision needs no override or the registry is not Harbor.
 */
export function overrideRefusal(registryType: string, decision: GateDecision, threshold: string): string | undefined {
    if (registryType !== "harbor" || !decision.overridden) return undefined;
    return (
        `--allow-vulnerable cannot work on Harbor: its project refuses to pull an artifact with findings at or above ${threshold} ` +
        `(prevent_vul, set from supplyChain.scan.severity), so the pods could not pull this digest whatever promote records. ` +
        `Fix the image and rebuild, or wait for Harbor's scan; to accept the risk, raise supplyChain.scan.severity of the ` +
        `target stack in a reviewed change (it moves Harbor's threshold too), deploy it, then promote`
    );
}

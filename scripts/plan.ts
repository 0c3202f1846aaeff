/**
 * `npm run plan -- --stack <name> [--config <file>] [--out <dir>]`
 *
 * Runs the program offline under the mock runtime (support/harness.ts: the same harness the tests use) with the
 * stack's `Pulumi.<stack>.yaml`, prints a summary a reviewer can read, and writes every declared resource to
 * `out/<stack>/resources.json` and every Kubernetes object as YAML under `out/<stack>/k8s/` (and, in `plan.json`,
 * the digests of the stack file and program it planned, which `npm run policy` checks). No Pulumi CLI,
 * credentials or cluster needed. Exits non-zero with the config error when the config is bad.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { k8sObjects, maskSecretValues, MockResource, runStack, StackRun } from "../support/harness";
import { command, readStackDocument, REPO_ROOT, runMain, table } from "./cli";
import { PLAN_STAMP_FILE, planStamp } from "./planStamp";

export const planCommand = command({
    name: "plan",
    usage: ["--stack <name> [--out <dir>]", "--config <file> [--out <dir>]"],
    description: `
Runs index.ts offline under Pulumi's mock runtime with the stack's Pulumi.<name>.yaml (or any stack file given with
--config), prints a summary (resources by type, models, GPU capacity, registry retention, canary exposure,
warnings) and writes out/<stack>/resources.json, outputs.json and one YAML file per Kubernetes object under
out/<stack>/k8s/ (and plan.json: what it was planned from). Needs no Pulumi CLI, credentials or cluster. A bad
config prints the config error and exits 1; an unknown stack or a missing --config file prints one line and exits 2.`,
    options: {
        stack: { type: "string", value: "name", help: "stack to plan, read from Pulumi.<name>.yaml (default: dev)" },
        config: { type: "string", value: "file", help: "plan this stack file instead; the stack is named after the file" },
        out: { type: "string", value: "dir", help: "write under <dir>/<stack>/ instead of out/<stack>/" },
    },
});

export interface PlannedResource {
    type: string;
    name: string;
    urn: string;
    inputs: Record<string, any>;
}

export interface PlanResult extends StackRun {
    outDir: string;
    files: string[];
}

function safeFileName(s: string): string {
    return s.replace(/[^A-Za-z0-9_.-]+/g, "_");
}

export function countsByType(resources: MockResource[]): Array<[string, number]> {
    const counts = new Map<string, number>();
    for (const r of resources) counts.set(r.type, (counts.get(r.type) ?? 0) + 1);
    return [...counts.entries()].sort((a, b) => a[0].localeCompare(b[0]));
}

/** Runs the plan and writes its files. */
export async function plan(stack: string, opts: { configFile?: string; outRoot?: string } = {}): Promise<PlanResult> {
    readStackDocument(opts.configFile ?? stack); // a missing or malformed stack file: its one-line error first
    const stamp = planStamp(opts.configFile ?? stack); // before the run: an edit made meanwhile makes the plan stale
    const run = await runStack(stack, { configFile: opts.configFile, env: {} });
    const outDir = path.join(opts.outRoot ?? path.join(REPO_ROOT, "out"), run.stack);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.mkdirSync(path.join(outDir, "k8s"), { recursive: true });
    const files: string[] = [];
    const planned: PlannedResource[] = run.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, inputs: maskSecretValues(r.inputs) }));
    const resourcesFile = path.join(outDir, "resources.json");
    fs.writeFileSync(resourcesFile, JSON.stringify(planned, null, 2) + "\n");
    files.push(resourcesFile);
    const used = new Set<string>();
    for (const obj of k8sObjects(run.resources, "mask")) {
        const ns = obj.metadata?.namespace ? `${obj.metadata.namespace}_` : "";
        let base = safeFileName(`${obj.kind}_${ns}${obj.metadata?.name ?? "unnamed"}`);
        while (used.has(base)) base += "_";
        used.add(base);
        const file = path.join(outDir, "k8s", `${base}.yaml`);
        fs.writeFileSync(file, YAML.stringify(obj, { sortMapEntries: false }));
        files.push(file);
    }
    const outputsFile = path.join(outDir, "outputs.json");
    fs.writeFileSync(outputsFile, JSON.stringify(maskSecretValues(run.outputs), null, 2) + "\n");
    files.push(outputsFile);
    const stampFile = path.join(outDir, PLAN_STAMP_FILE);
    fs.writeFileSync(stampFile, JSON.stringify(stamp, null, 2) + "\n");
    files.push(stampFile);
    return { ...run, outDir, files };
}

/** The human summary printed by `npm run plan`. */
/** The traffic weights of rendered Argo canary steps: `5 → 25 → 50` (empty when there are none). */
export function weightsOf(steps: Array<Record<string, any>> | undefined): string {
    return (steps ?? []).flatMap((s) => (s.setWeight !== undefined ? [String(s.setWeight)] : [])).join(" → ");
}

/** Rendered Argo canary steps, one token each: `5% → pause 300s → analysis(a, b) → …`. */
export function renderedSteps(steps: Array<Record<string, any>> | undefined): string {
    return (steps ?? [])
        .map((s) => {
            if (s.setWeight !== undefined) return `${s.setWeight}%`;
            if (s.pause !== undefined) return s.pause.duration === undefined ? "pause (until promoted)" : `pause ${s.pause.duration}`;
            if (s.analysis !== undefined) return `analysis(${(s.analysis.templates ?? []).map((t: any) => t.templateName).join(", ")})`;
            return Object.keys(s).join("+");
        })
        .join(" → ");
}

export function summary(result: PlanResult): string {
    const lines: string[] = [];
    const o = result.outputs;
    lines.push(`Stack ${result.stack} (${o.environment ?? "?"}), cluster ${o.clusterName ?? "?"}: ${result.resources.length} resources`);
    lines.push("");
    lines.push("Resources by type:");
    lines.push(table([["type", "count"], ...countsByType(result.resources).map(([t, n]) => [t, String(n)])]).replace(/^/gm, "  "));
    if (o.models) {
        lines.push("");
        lines.push("Models:");
        const rows = [["model", "version", "image", "gpu", "replicas", "workload", "canary steps"]];
        for (const [name, m] of Object.entries<any>(o.models)) {
            rows.push([
                name,
                m.version,
                m.image,
                m.gpu ?? "-",
                `${m.minReplicas}–${m.maxReplicas}`,
                m.workload ?? "-",
                weightsOf(o.canaries?.[name]?.steps) || "-",
            ]);
        }
        lines.push(table(rows).replace(/^/gm, "  "));
    }
    if (o.gpuCapacity) {
        lines.push("");
        lines.push("GPU capacity at maxReplicas:");
        lines.push(formatCapacity(o.gpuCapacity).replace(/^/gm, "  "));
        for (const p of Object.values<any>(o.gpuCapacity)) {
            if (p.recommendedLayout) {
                lines.push(
                    `  ${p.pool}: layout ${JSON.stringify(p.recommendedLayout.layout)} would need ${p.recommendedLayout.gpusNeeded} GPU(s) instead of ${p.gpusNeeded}`,
                );
            }
            const r = p.recommendedLayouts;
            if (r) {
                const layouts = r.layouts.map((g: any) => `${g.gpus} × ${JSON.stringify(g.layout)}`).join(" + ");
                const nodes = r.nodesNeeded === undefined ? "" : `, ${r.nodesNeeded} node(s) with one per-GPU template`;
                lines.push(
                    `  ${p.pool}: per-GPU layouts would need ${r.gpusNeeded} GPU(s)${nodes} (${Math.round(r.sliceUtilisation * 100)}% slice use): ${layouts}`,
                );
            }
        }
    }
    if (o.retentionRules) {
        lines.push("");
        lines.push("Registry retention (per repository):");
        for (const rule of o.retentionRules as string[]) lines.push(`  ${rule}`);
    }
    if (o.canaries && Object.keys(o.canaries).length > 0) {
        lines.push("");
        lines.push("Canary exposure:");
        for (const [name, c] of Object.entries<any>(o.canaries)) {
            lines.push(
                `  ${name}: rollout ${c.rolloutName}, first gate at ${c.exposure?.firstGateWeight}% traffic, ≥ ${c.exposure?.minSecondsToFull}s to 100%`,
            );
            lines.push(`    steps: ${renderedSteps(c.steps)}`);
        }
    }
    if (result.warnings.length > 0) {
        lines.push("");
        lines.push("Warnings:");
        for (const w of result.warnings) lines.push(`  ! ${w}`);
    }
    lines.push("");
    lines.push(
        `Wrote ${path.relative(process.cwd(), result.outDir)}/resources.json, outputs.json and ${result.files.filter((f) => path.basename(path.dirname(f)) === "k8s").length} Kubernetes objects under k8s/.`,
    );
    return lines.join("\n");
}

function formatCapacity(capacity: any): string {
    if (typeof capacity !== "object" || capacity === null) return String(capacity);
    const rows = [["pool", "gpu", "demand", "gpus", "nodes", "maxSize", "slice use", "fits"]];
    for (const [pool, p] of Object.entries<any>(capacity)) {
        const demand = Object.entries<any>(p.demand ?? {})
            .map(([k, v]) => `${k}×${v}`)
            .join(" ");
        rows.push([
            pool,
            String(p.gpu ?? "-"),
            demand || "-",
            String(p.gpusNeeded ?? "-"),
            String(p.nodesNeeded ?? "-"),
            String(p.maxSize ?? "-"),
            p.sliceUtilisation === undefined ? "-" : `${Math.round(p.sliceUtilisation * 100)}%`,
            p.fits === undefined ? "-" : p.fits ? "yes" : "NO",
        ]);
    }
    return table(rows);
}

if (require.main === module) {
    void runMain(planCommand, async (args) => {
        // With --config the stack is named after the file.
        const result = await plan(args.config ?? args.stack ?? "dev", { configFile: args.config, outRoot: args.out });
        console.log(summary(result));
    });
}

/**
 * Pure parts of the engine benchmark (`npm run bench -- engine`): the stack of N models generated from the local
 * stack's shape, the floor program's size, and the least-squares line through the timings.
 */
import YAML from "yaml";
import { CONFIG_NAMESPACE } from "../../support/stackFile";

const key = (k: string) => `${CONFIG_NAMESPACE}:${k}`;

/**
 * The local stack file with its models repeated to `n` (names `<model>-<i>`, every other setting as in the local
 * stack, canaries included) and each GPU pool's node count multiplied so that the capacity plan still fits. The
 * registry becomes `external` (images by digest from the same host): one Harbor project's retention policy holds at
 * most 15 rules, two of them shared, and the program protects each model's deployed release with one, so a Harbor
 * stack is refused past 13 models (config/crossChecks.ts).
 */
export function engineStackFile(localStackYaml: string, n: number): string {
    const doc = YAML.parseDocument(localStackYaml);
    const config = doc.get("config") as YAML.YAMLMap;
    const models = (config.get(key("models")) as YAML.YAMLSeq).toJSON() as Array<Record<string, unknown>>;
    if (models.length === 0) throw new Error("the local stack declares no model to repeat");
    const generated = Array.from({ length: n }, (_, i) => ({ ...models[i % models.length], name: `${models[i % models.length].name}-${i}` }));
    config.set(key("models"), doc.createNode(generated));
    config.set(key("registry"), doc.createNode({ type: "external", externalPrefix: "127.0.0.1:18443/models" }));
    const factor = Math.ceil(n / models.length);
    const pools = (config.get(key("gpuPools")) as YAML.YAMLSeq | undefined)?.toJSON() as Array<Record<string, unknown>> | undefined;
    if (pools) config.set(key("gpuPools"), doc.createNode(pools.map((p) => ({ ...p, nodes: Number(p.nodes ?? 1) * factor }))));
    return doc.toString({ lineWidth: 0 });
}

export interface Fit {
    /** Milliseconds per resource (the slope). */
    readonly msPerResource: number;
    /** Fixed cost in milliseconds (the intercept). */
    readonly fixedMs: number;
    /** Coefficient of determination: 1 is a perfect line. */
    readonly r2: number;
}

/** Least-squares line of `ms` against `resources`. */
export function linearFit(points: ReadonlyArray<{ resources: number; ms: number }>): Fit {
    const n = points.length;
    if (n < 2) throw new Error("a line needs at least two sizes");
    const mx = points.reduce((a, p) => a + p.resources, 0) / n;
    const my = points.reduce((a, p) => a + p.ms, 0) / n;
    const sxx = points.reduce((a, p) => a + (p.resources - mx) ** 2, 0);
    const sxy = points.reduce((a, p) => a + (p.resources - mx) * (p.ms - my), 0);
    const slope = sxx === 0 ? 0 : sxy / sxx;
    const fixed = my - slope * mx;
    const ssTot = points.reduce((a, p) => a + (p.ms - my) ** 2, 0);
    const ssRes = points.reduce((a, p) => a + (p.ms - (fixed + slope * p.resources)) ** 2, 0);
    return { msPerResource: slope, fixedMs: fixed, r2: ssTot === 0 ? 1 : 1 - ssRes / ssTot };
}

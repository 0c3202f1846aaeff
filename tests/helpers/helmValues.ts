/**
 * Helm values vs a pinned chart's values.yaml.
 *
 * Helm silently ignores a value key the chart's templates never read, so a misspelt key ships as a no-op. Every
 * key the program sets must therefore exist in the pinned chart's values.yaml (shared/reference/charts/<chart>/),
 * except below free-form maps (`nodeSelector`, `podAnnotations`, `extraArgs`, …) whose keys are the user's.
 */
import * as fs from "fs";
import * as YAML from "yaml";

function isMap(v: unknown): v is Record<string, unknown> {
    return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** True when a dotted path matches a free-form pattern (`*` matches one segment; a pattern also covers everything below it). */
function coveredBy(pathSegments: string[], pattern: string): boolean {
    const p = pattern.split(".");
    if (p.length > pathSegments.length) return false;
    return p.every((seg, i) => seg === "*" || seg === pathSegments[i]);
}

/**
 * Dotted paths of `values` keys that the chart's values.yaml does not have.
 *
 * - A key must exist in values.yaml at the same path (a key present with a null/commented value counts).
 * - Below a key whose chart default is not a map (a scalar, a list, null) nothing more is checked: the value is
 *   replaced as a whole.
 * - Below a key whose chart default is an EMPTY map (`podAnnotations: {}`) any key is allowed: that map is free-form
 *   by construction.
 * - `freeForm` lists further dotted paths (`controller.nodeSelector`, `*.tolerations`) whose contents are not checked.
 */
export function unknownValueKeys(values: Record<string, unknown>, valuesYamlPath: string, freeForm: string[] = []): string[] {
    const chart = YAML.parse(fs.readFileSync(valuesYamlPath, "utf8")) ?? {};
    const unknown: string[] = [];
    const walk = (given: Record<string, unknown>, defaults: Record<string, unknown>, at: string[]): void => {
        for (const [key, value] of Object.entries(given)) {
            const here = [...at, key];
            if (freeForm.some((f) => coveredBy(here, f))) continue;
            if (!Object.prototype.hasOwnProperty.call(defaults, key)) {
                unknown.push(here.join("."));
                continue;
            }
            const d = defaults[key];
            if (isMap(value) && isMap(d) && Object.keys(d).length > 0) {
                walk(value, d, here);
            }
        }
    };
    walk(values, isMap(chart) ? chart : {}, []);
    return unknown;
}

/**
 * Provider plugin versions the docs quote (`pulumi plugin install resource kubernetes 4.25.0`,
 * `pulumi-resource-kubernetes 4.25.0`) are the versions of the SDKs package.json installs: each `@pulumi/<name>`
 * SDK's install script installs exactly its own version of the plugin, so any other version in the docs is stale.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { markdownFiles } from "../helpers/docLinks";
import { REPO_ROOT } from "../../support/stackFile";

/** `[plugin name, version, line]` of every provider plugin version a markdown text quotes. */
export function quotedPluginVersions(markdown: string): Array<[string, string, number]> {
    const out: Array<[string, string, number]> = [];
    markdown.split("\n").forEach((text, i) => {
        for (const m of text.matchAll(/plugin install resource ([a-z][a-z0-9-]*) v?(\d+\.\d+\.\d+)/g)) out.push([m[1], m[2], i + 1]);
        for (const m of text.matchAll(/pulumi-resource-([a-z][a-z0-9-]*)`?\s*\|?\s*`?v?(\d+\.\d+\.\d+)/g)) out.push([m[1], m[2], i + 1]);
    });
    return out;
}

/** The version of the installed `@pulumi/<name>` SDK, or undefined when package.json has no such SDK. */
function sdkVersion(name: string): string | undefined {
    const deps = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).dependencies as Record<string, string>;
    if (!deps[`@pulumi/${name}`]) return undefined;
    const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "node_modules", "@pulumi", name, "package.json"), "utf8"));
    assert.match(pkg.scripts?.install ?? "", new RegExp(`resource ${name} ${pkg.version.replace(/\./g, "\\.")}$`), `@pulumi/${name} installs its own version`);
    return pkg.version;
}

describe("docs: provider plugin versions match the SDKs package.json installs", () => {
    it("finds plugin versions in commands and tables", () => {
        assert.deepEqual(
            quotedPluginVersions("`pulumi plugin install resource kubernetes 4.34.2`\n| pulumi-resource-kubernetes | 4.25.0 | x\n(pulumi-resource-aws v7.1.0)"),
            [
                ["kubernetes", "4.34.2", 1],
                ["kubernetes", "4.25.0", 2],
                ["aws", "7.1.0", 3],
            ],
        );
    });

    it("README.md and docs/ quote the installed SDK's version of every provider plugin", () => {
        const stale: string[] = [];
        let found = 0;
        for (const file of markdownFiles(REPO_ROOT).filter((f) => f === "README.md" || f.startsWith("docs/"))) {
            for (const [name, version, line] of quotedPluginVersions(fs.readFileSync(path.join(REPO_ROOT, file), "utf8"))) {
                const sdk = sdkVersion(name);
                if (sdk === undefined) continue;
                found++;
                if (version !== sdk) stale.push(`${file}:${line}: ${name} ${version}, but @pulumi/${name} is ${sdk}`);
            }
        }
        assert.ok(found > 0, "the docs quote at least the Kubernetes provider's version");
        assert.deepEqual(stale, []);
    });
});

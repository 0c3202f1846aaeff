import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { recipeHash, WRAPPERS_DIR } from "../../sandbox/toolchain/build";
import { TOOLS } from "../../sandbox/toolchain/manifest";

describe("tool manifest", () => {
    it("every tool has a committed wrapper module whose go.mod requires its pinned upstream version", () => {
        for (const t of TOOLS) {
            const gomod = fs.readFileSync(path.join(WRAPPERS_DIR, t.name, "go.mod"), "utf8");
            if (Object.keys(t.binaries).length > 0 && !t.copy) {
                assert.ok(gomod.includes(`${t.module} ${t.moduleVersion}`), `${t.name}: go.mod does not require ${t.module} ${t.moduleVersion}`);
            }
        }
    });

    it("stamps versions the way each project's release build does, and checks them after the build", () => {
        for (const t of TOOLS) {
            for (const c of t.checks)
                assert.ok(
                    Object.keys(t.binaries).includes(c.binary) || t.scripts?.some((s) => s.as === c.binary),
                    `${t.name}: check of an unbuilt binary ${c.binary}`,
                );
            if (Object.keys(t.binaries).length > 0) assert.ok(t.checks.length > 0, `${t.name} has no post-build check`);
        }
        const kube = TOOLS.find((t) => t.name === "kubernetes")!;
        assert.ok(kube.ldflags.includes("-X k8s.io/component-base/version.gitVersion=v1.35.4"), "kube-apiserver would report v0.0.0");
    });

    it("the Kubernetes wrapper replaces every staging module with its release, never a relative path", () => {
        const gomod = fs.readFileSync(path.join(WRAPPERS_DIR, "kubernetes", "go.mod"), "utf8");
        const replaces = gomod.split("\n").filter((l) => l.includes("=>"));
        assert.ok(replaces.length >= 30, `only ${replaces.length} replaces`);
        for (const r of replaces) assert.match(r, /=> k8s\.io\/[a-z-]+ v0\.35\.4$/, r);
    });

    it("the recipe hash is stable for an unchanged recipe", () => {
        for (const t of TOOLS) assert.equal(recipeHash(t), recipeHash(t));
    });
});

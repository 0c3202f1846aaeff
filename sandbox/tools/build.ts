/**
 * Builds the tools of `manifest.ts` into a cache outside the repo, keyed by name and version:
 * `$MODEL_FLEET_TOOLS_DIR` (default `~/.cache/model-fleet/tools`)/<name>/<version>/bin. A stamp records the hash of
 * the recipe (wrapper go.mod/go.sum and flags); a second build with the same recipe costs nothing.
 */
import { spawnSync, SpawnSyncOptions } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { TOOLS, ToolSpec, toolSpec } from "./manifest";

export const WRAPPERS_DIR = path.join(__dirname, "wrappers");

export function toolsDir(): string {
    return process.env.MODEL_FLEET_TOOLS_DIR ?? path.join(os.homedir(), ".cache", "model-fleet", "tools");
}

export function toolHome(t: ToolSpec): string {
    return path.join(toolsDir(), t.name, t.version);
}

export function binDir(t: ToolSpec): string {
    return path.join(toolHome(t), "bin");
}

/** Directory of a built tool's upstream data (`share/<what>`); throws naming the build command when missing. */
export function toolShare(name: string, what: string): string {
    const t = toolSpec(name);
    const p = path.join(toolHome(t), "share", what);
    if (!fs.existsSync(p) || !isBuilt(t)) {
        throw new MissingToolError(name, `${what} of ${name}`, p);
    }
    return p;
}

/** Path of a built binary; throws a clear error naming the build command when it is missing. */
export function toolPath(name: string, binary = name): string {
    const t = toolSpec(name);
    const p = path.join(binDir(t), binary);
    if (!fs.existsSync(p) || !isBuilt(t)) {
        throw new MissingToolError(name, binary, p);
    }
    return p;
}

export class MissingToolError extends Error {
    constructor(
        readonly tool: string,
        binary: string,
        where: string,
    ) {
        super(`${binary} (tool "${tool}") is not built: run \`npm run tools -- build ${tool}\` (expected at ${where})`);
    }
}

/** Hash of everything that decides the output: wrapper files, flags, tags, copies, generate steps. */
export function recipeHash(t: ToolSpec): string {
    const h = createHash("sha256");
    const dir = path.join(WRAPPERS_DIR, t.name);
    for (const f of fs.readdirSync(dir).sort()) {
        h.update(f).update(fs.readFileSync(path.join(dir, f)));
    }
    h.update(JSON.stringify({ ...t, checks: t.checks.map((c) => ({ ...c, expect: c.expect.source })) }));
    h.update(goVersion());
    return h.digest("hex").slice(0, 16);
}

let cachedGoVersion: string | undefined;
function goVersion(): string {
    cachedGoVersion ??= run("go", ["env", "GOVERSION"], { stdio: "pipe" }).trim();
    return cachedGoVersion;
}

function stampPath(t: ToolSpec): string {
    return path.join(toolHome(t), ".built");
}

export function isBuilt(t: ToolSpec): boolean {
    try {
        return fs.readFileSync(stampPath(t), "utf8").split("\n")[0] === recipeHash(t);
    } catch {
        return false;
    }
}

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
    const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20, ...opts });
    if (r.error) {
        throw new Error(`${cmd}: ${r.error.message}${(r.error as NodeJS.ErrnoException).code === "ENOENT" ? ` (is ${cmd} installed and on PATH?)` : ""}`);
    }
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${String(r.stderr ?? "").slice(-4000)}${String(r.stdout ?? "").slice(-2000)}`);
    }
    return String(r.stdout ?? "");
}

const goEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? "local",
    GOFLAGS: "-buildvcs=false",
    CGO_ENABLED: "0",
});

/** `go mod download -json <module@version>` → the module's directory in the module cache. */
function moduleDir(modAtVersion: string, cwd: string): string {
    const out = run("go", ["mod", "download", "-json", modAtVersion], { cwd, env: goEnv() });
    return JSON.parse(out).Dir as string;
}

export interface BuildResult {
    name: string;
    version: string;
    cached: boolean;
    seconds: number;
}

export function buildTool(t: ToolSpec, log: (line: string) => void): BuildResult {
    const started = Date.now();
    if (isBuilt(t)) {
        log(`${t.name} ${t.version}: cached in ${toolHome(t)}`);
        return { name: t.name, version: t.version, cached: true, seconds: 0 };
    }
    // The recipe as it is when the wrapper is copied: an edit during the build must not stamp the old binary as new.
    const recipe = recipeHash(t);
    const home = toolHome(t);
    const src = path.join(home, "src");
    fs.rmSync(home, { recursive: true, force: true });
    fs.mkdirSync(src, { recursive: true });
    fs.cpSync(path.join(WRAPPERS_DIR, t.name), src, { recursive: true });
    const step = (what: string) => log(`${t.name} ${t.version}: ${what} (${Math.round((Date.now() - started) / 1000)} s)`);

    step(`downloading ${t.module}@${t.moduleVersion} and its dependencies`);
    run("go", ["mod", "download"], { cwd: src, env: goEnv() });
    if (t.copy) {
        const from = path.join(moduleDir(t.copy.module, src), t.copy.dir);
        for (const f of t.copy.files) {
            fs.copyFileSync(path.join(from, f), path.join(src, f));
            fs.chmodSync(path.join(src, f), 0o644);
        }
    }
    for (const g of t.generate ?? []) {
        step(`go run ${g.file}`);
        run("go", ["run", g.file], { cwd: src, env: { ...goEnv(), ...g.env } });
    }
    const bin = binDir(t);
    fs.mkdirSync(bin, { recursive: true });
    for (const [binary, pkg] of Object.entries(t.binaries)) {
        step(`go build ${binary} (cold: minutes)`);
        const args = ["build", "-trimpath", "-ldflags", ["-s", "-w", ...t.ldflags].join(" "), "-o", path.join(bin, binary)];
        if (t.tags?.length) {
            args.push("-tags", t.tags.join(","));
        }
        run("go", [...args, pkg], { cwd: src, env: goEnv() });
    }
    for (const sh of t.share ?? []) {
        const from = path.join(moduleDir(sh.module, src), sh.dir);
        const to = path.join(home, "share", sh.to);
        fs.mkdirSync(to, { recursive: true });
        for (const f of sh.files) {
            fs.copyFileSync(path.join(from, f), path.join(to, f));
            fs.chmodSync(path.join(to, f), 0o644);
        }
    }
    for (const s of t.scripts ?? []) {
        const p = path.join(moduleDir(s.module, src), s.path);
        fs.copyFileSync(p, path.join(bin, s.as));
        fs.chmodSync(path.join(bin, s.as), 0o755);
    }
    for (const c of t.checks) {
        const exe = c.via ? toolPath(c.via.tool, c.via.binary) : path.join(bin, c.binary);
        const r = spawnSync(
            exe,
            c.args.map((a) => a.replace("{bin}", bin)),
            {
                maxBuffer: 64 << 20,
                encoding: "utf8",
                env: { ...process.env, PULUMI_HOME: path.join(home, "pulumi-home"), PULUMI_SKIP_UPDATE_CHECK: "true" },
            },
        );
        const out = `${r.stdout ?? ""}${r.stderr ?? ""}`;
        if (r.status !== 0 || !c.expect.test(out.trim())) {
            throw new Error(
                `${t.name}: \`${c.binary} ${c.args.join(" ")}\` exited ${r.status} and printed ${JSON.stringify(out.slice(0, 300))}, expected ${c.expect}`,
            );
        }
        step(`check ok: ${path.basename(exe)} ${c.args.join(" ")} → ${(c.expect.exec(out.trim())?.[0] ?? "").slice(0, 80)}`);
    }
    fs.rmSync(path.join(home, "pulumi-home"), { recursive: true, force: true });
    const seconds = Math.round((Date.now() - started) / 1000);
    fs.writeFileSync(stampPath(t), `${recipe}\nbuilt ${new Date().toISOString()} in ${seconds} s\n`);
    step("done");
    return { name: t.name, version: t.version, cached: false, seconds };
}

export function buildTools(names: string[], log: (line: string) => void): BuildResult[] {
    const specs = names.length > 0 ? names.map(toolSpec) : [...TOOLS];
    return specs.map((t) => buildTool(t, log));
}

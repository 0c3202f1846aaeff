/**
 * Builds the tools of `manifest.ts` into a cache outside the repo, keyed by name and version:
 * `$MODEL_FLEET_TOOLS_DIR` (default `~/.cache/model-fleet/tools`)/<name>/<version>/bin. A stamp records the hash of
 * the recipe (wrapper go.mod/go.sum and flags); a second build with the same recipe costs nothing. While a build runs,
 * a progress reporter (progress.ts) shows the tool, the step, elapsed against expected time and the whole build's
 * progress: a line rewritten in place on a terminal, one line per step plus a heartbeat every minute elsewhere (CI).
 */
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { promisify } from "node:util";
import { toolsDir } from "../../support/toolCache";
import { TOOL_SETS, ToolSet, TOOLS, ToolSpec, toolSpec } from "./manifest";
import { PlannedBuild, ProgressReporter, ReporterOptions } from "./progress";

const execFileAsync = promisify(execFile);

export const WRAPPERS_DIR = path.join(__dirname, "wrappers");

export { toolsDir };

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
    // Everything but the expected build time, which only informs the progress display.
    const { coldSeconds: _expected, ...recipe } = t;
    h.update(JSON.stringify({ ...recipe, checks: t.checks.map((c) => ({ ...c, expect: c.expect.source })) }));
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

function run(cmd: string, args: string[], opts: SpawnOpts = {}): string {
    const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20, ...opts });
    if (r.error) throw spawnError(cmd, r.error);
    if (r.status !== 0) {
        throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${String(r.stderr ?? "").slice(-4000)}${String(r.stdout ?? "").slice(-2000)}`);
    }
    return String(r.stdout ?? "");
}

interface SpawnOpts {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    stdio?: "pipe";
}

function spawnError(cmd: string, e: Error): Error {
    return new Error(`${cmd}: ${e.message}${(e as NodeJS.ErrnoException).code === "ENOENT" ? ` (is ${cmd} installed and on PATH?)` : ""}`);
}

/** `run` without blocking the event loop, so the progress reporter keeps ticking through a minutes-long `go build`. */
async function runAsync(cmd: string, args: string[], opts: SpawnOpts = {}): Promise<string> {
    try {
        const { stdout } = await execFileAsync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, ...opts });
        return stdout;
    } catch (e) {
        const err = e as Error & { code?: number | string; stdout?: string; stderr?: string };
        if (typeof err.code === "string") throw spawnError(cmd, err);
        throw new Error(`${cmd} ${args.join(" ")} exited ${err.code}:\n${String(err.stderr ?? "").slice(-4000)}${String(err.stdout ?? "").slice(-2000)}`);
    }
}

const goEnv = (): NodeJS.ProcessEnv => ({
    ...process.env,
    GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? "local",
    GOFLAGS: "-buildvcs=false",
    CGO_ENABLED: "0",
});

/** `go mod download -json <module@version>` → the module's directory in the module cache. */
async function moduleDir(modAtVersion: string, cwd: string): Promise<string> {
    const out = await runAsync("go", ["mod", "download", "-json", modAtVersion], { cwd, env: goEnv() });
    return JSON.parse(out).Dir as string;
}

export interface BuildResult {
    name: string;
    version: string;
    cached: boolean;
    seconds: number;
}

/** Where a build reports: each step as it starts (`step`), and whether the tool came from the cache. */
export interface BuildListener {
    step(tool: ToolSpec, what: string): void;
    cached(tool: ToolSpec): void;
    done(tool: ToolSpec, seconds: number): void;
}

export async function buildTool(t: ToolSpec, on: BuildListener): Promise<BuildResult> {
    const started = Date.now();
    if (isBuilt(t)) {
        on.cached(t);
        return { name: t.name, version: t.version, cached: true, seconds: 0 };
    }
    // The recipe as it is when the wrapper is copied: an edit during the build must not stamp the old binary as new.
    const recipe = recipeHash(t);
    const home = toolHome(t);
    const src = path.join(home, "src");
    fs.rmSync(home, { recursive: true, force: true });
    fs.mkdirSync(src, { recursive: true });
    fs.cpSync(path.join(WRAPPERS_DIR, t.name), src, { recursive: true });
    const step = (what: string) => on.step(t, what);

    step(`downloading ${t.module}@${t.moduleVersion} and its dependencies`);
    await runAsync("go", ["mod", "download"], { cwd: src, env: goEnv() });
    if (t.copy) {
        const from = path.join(await moduleDir(t.copy.module, src), t.copy.dir);
        for (const f of t.copy.files) {
            fs.copyFileSync(path.join(from, f), path.join(src, f));
            fs.chmodSync(path.join(src, f), 0o644);
        }
    }
    for (const g of t.generate ?? []) {
        step(`go run ${g.file}`);
        await runAsync("go", ["run", g.file], { cwd: src, env: { ...goEnv(), ...g.env } });
    }
    const bin = binDir(t);
    fs.mkdirSync(bin, { recursive: true });
    for (const [binary, pkg] of Object.entries(t.binaries)) {
        step(`go build ${binary}`);
        const args = ["build", "-trimpath", "-ldflags", ["-s", "-w", ...t.ldflags].join(" "), "-o", path.join(bin, binary)];
        if (t.tags?.length) {
            args.push("-tags", t.tags.join(","));
        }
        await runAsync("go", [...args, pkg], { cwd: src, env: goEnv() });
    }
    for (const sh of t.share ?? []) {
        const from = path.join(await moduleDir(sh.module, src), sh.dir);
        const to = path.join(home, "share", sh.to);
        fs.mkdirSync(to, { recursive: true });
        for (const f of sh.files) {
            fs.copyFileSync(path.join(from, f), path.join(to, f));
            fs.chmodSync(path.join(to, f), 0o644);
        }
    }
    for (const s of t.scripts ?? []) {
        const p = path.join(await moduleDir(s.module, src), s.path);
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
    on.done(t, seconds);
    return { name: t.name, version: t.version, cached: false, seconds };
}

/** The tools a set names (manifest `TOOL_SETS`) or the tools named, in manifest order, without duplicates. */
export function selectTools(names: readonly string[]): ToolSpec[] {
    if (names.length === 0) return [...TOOLS];
    const wanted = new Set(names.flatMap((n) => (n in TOOL_SETS ? TOOL_SETS[n as ToolSet] : [toolSpec(n).name])));
    return TOOLS.filter((t) => wanted.has(t.name));
}

/** A tool that could not be built: the message names it and why (the command prints it without a stack trace). */
export class ToolBuildError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "ToolBuildError";
    }
}

/** Builds the tools in order with a progress display; cached tools cost nothing and are named once. */
export async function buildTools(specs: readonly ToolSpec[], opts: ReporterOptions): Promise<BuildResult[]> {
    const plan: PlannedBuild[] = specs.filter((t) => !isBuilt(t)).map((t) => ({ name: t.name, version: t.version, expectedSeconds: t.coldSeconds }));
    const reporter = new ProgressReporter(plan, opts);
    const timer = setInterval(() => reporter.tick(), 1000);
    const listener: BuildListener = {
        cached: (t) => reporter.cached(t.name, t.version, toolHome(t)),
        step: (t, what) => reporter.stepStarted(t.name, what),
        done: (t, seconds) => reporter.done(t.name, seconds),
    };
    try {
        const results: BuildResult[] = [];
        for (const t of specs) {
            try {
                results.push(await buildTool(t, listener));
            } catch (e) {
                throw new ToolBuildError(`${t.name} ${t.version} could not be built: ${(e as Error).message}`);
            }
        }
        return results;
    } finally {
        clearInterval(timer);
    }
}

/**
 * The sandbox's process lifecycle (sandbox/cluster/processes.ts), in the shape of controller-runtime's
 * pkg/internal/testing/process/process_test.go: real processes (bash, sleep), started detached in their own process
 * group as the sandbox starts etcd or the API server.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    groupMembers,
    processesWithEnv,
    Interrupted,
    isAlive,
    ProcessRecord,
    ProcessSpec,
    recordStatus,
    sleep,
    startProcess,
    stopAll,
    stopProcess,
} from "../../sandbox/cluster/processes";

const never = async () => false;
const always = async () => true;

function bash(name: string, script: string, ready = always, timeoutSeconds = 5): ProcessSpec {
    return { name, command: "bash", args: ["-c", script], ready, timeoutSeconds };
}

async function waitUntil(what: string, check: () => boolean, ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
    }
}

describe("sandbox processes", function () {
    this.timeout(30000);
    let logs: string;
    const started: ProcessRecord[] = [];
    /** Ready once the script printed `ready` (after its traps are set). */
    const printed = (name: string) => async () => fs.readFileSync(path.join(logs, `${name}.log`), "utf8").includes("ready");
    const start = async (spec: ProcessSpec) => {
        const r = await startProcess(spec, logs);
        started.push(r);
        return r;
    };

    beforeEach(() => (logs = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-processes-"))));
    afterEach(async () => {
        for (const r of started.splice(0)) {
            for (const pid of groupMembers(r.pid)) process.kill(pid, "SIGKILL");
        }
        fs.rmSync(logs, { recursive: true, force: true });
    });

    it("stops the whole process group, children included, even a child that ignores SIGTERM after its leader exited", async () => {
        // The leader (bash, not exec'd: the recorded command line must stay its own) dies on SIGTERM; one child
        // ignores SIGTERM (an ignored disposition survives exec).
        const r = await start(bash("group", `(trap "" TERM; echo ready; exec sleep 300) & sleep 300 & wait`, printed("group")));
        await waitUntil("the child to start", () => groupMembers(r.pid).length === 3);
        const members = groupMembers(r.pid);
        assert.equal(await stopProcess(r, { graceSeconds: 0.5 }), "killed");
        for (const pid of members) assert.equal(isAlive(pid), false, `pid ${pid} of the group still runs`);
        assert.deepEqual(groupMembers(r.pid), []);
    });

    it("stops a process that honours SIGTERM within the grace period", async () => {
        const r = await start(bash("polite", "sleep 300 & wait"));
        assert.equal(await stopProcess(r, { graceSeconds: 5 }), "stopped");
        assert.equal(isAlive(r.pid), false);
    });

    it("reports a process that outlives its grace period (SIGKILL), and one that survives SIGKILL", async () => {
        const r = await start(bash("stubborn", `trap "" TERM; echo ready; while :; do sleep 0.1; done`, printed("stubborn")));
        assert.equal(await stopProcess(r, { graceSeconds: 0.3 }), "killed");
        // A process in uninterruptible sleep (D state) ignores SIGKILL until its I/O returns: simulated by a sender
        // that drops SIGKILL.
        const d = await start(bash("unkillable", `trap "" TERM; echo ready; sleep 300 & wait`, printed("unkillable")));
        const dropKill = (pgid: number, s: NodeJS.Signals) => (s === "SIGKILL" ? undefined : process.kill(-pgid, s));
        await assert.rejects(stopProcess(d, { graceSeconds: 0.2, kill: dropKill }), new RegExp(`unkillable \\(pid ${d.pid}\\).*survived SIGKILL`));
    });

    it("stopAll tries every process, reports each outcome, and throws every survivor together", async () => {
        const a = await start(bash("a", "sleep 300 & wait"));
        const b = await start(bash("b", `trap "" TERM; echo ready; sleep 300 & wait`, printed("b")));
        const c = await start(bash("c", "sleep 300 & wait"));
        const dropKillOfB = (pgid: number, s: NodeJS.Signals) => (s === "SIGKILL" && pgid === b.pid ? undefined : process.kill(-pgid, s));
        const seen: string[] = [];
        await assert.rejects(
            stopAll([a, b, c], (p, o) => seen.push(`${p.name} ${o}`), { graceSeconds: 0.3, kill: dropKillOfB }),
            (e: AggregateError) => e.errors.length === 1 && /b \(pid \d+\)/.test(e.message),
        );
        assert.deepEqual(seen, ["c stopped", "a stopped"], "the last started is stopped first; the survivor is not reported as stopped");
        assert.equal(isAlive(a.pid) || isAlive(c.pid), false);
        assert.equal(recordStatus(b), "running");
    });

    it("a process that exits before it is ready gives a clear error with its exit and the log's tail", async () => {
        await assert.rejects(
            start(bash("early", "echo 'listen tcp 127.0.0.1:16443: bind: address already in use'; exit 3", never)),
            /early exited \(code 3\) before it was ready; last lines of .*early\.log:\nlisten tcp 127\.0\.0\.1:16443: bind: address already in use/,
        );
    });

    it("a command that cannot be started is a clear error", async () => {
        await assert.rejects(
            start({ name: "missing", command: "/nonexistent/etcd", args: [], ready: always, timeoutSeconds: 1 }),
            /missing: cannot start \/nonexistent\/etcd: .*ENOENT/,
        );
    });

    it("a process not ready in time is stopped and reported", async () => {
        let pid = 0;
        await assert.rejects(
            startProcess(bash("slow", "sleep 300 & wait", never, 0.5), logs, (r) => (pid = r.pid)),
            /slow was not ready after 0\.5 s/,
        );
        assert.ok(pid > 0);
        assert.equal(isAlive(pid), false);
    });

    it("records the pid the moment the process is spawned, before it is ready", async () => {
        let recorded: ProcessRecord | undefined;
        let readyCalls = 0;
        const ready = async () => {
            readyCalls++;
            assert.ok(recorded && isAlive(recorded.pid), "ready is probed only after the pid was reported");
            return readyCalls >= 3;
        };
        const r = await startProcess(bash("early-pid", "sleep 300 & wait", ready), logs, (rec) => (recorded = rec));
        started.push(r);
        assert.deepEqual(recorded, r);
    });

    it("an interrupted start stops what it spawned", async () => {
        const abort = new AbortController();
        let pid = 0;
        setTimeout(() => abort.abort("SIGINT"), 300);
        await assert.rejects(
            startProcess(bash("interrupted", "sleep 300 & wait", never, 30), logs, (r) => (pid = r.pid), abort.signal),
            Interrupted,
        );
        assert.equal(isAlive(pid), false);
    });

    it("stopping twice is harmless", async () => {
        const r = await start(bash("twice", "sleep 300 & wait"));
        assert.equal(await stopProcess(r), "stopped");
        assert.equal(await stopProcess(r), "not running");
        assert.equal(await stopProcess({ ...r, pid: -1 }), "not running");
    });

    it("never signals a recorded pid that now runs another program", async () => {
        // The pid of an unrelated program (what a reused pid looks like) under a sandbox record.
        const other = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
        try {
            const record: ProcessRecord = { name: "etcd", pid: other.pid!, log: "/dev/null", command: "/tools/etcd --name=sandbox" };
            assert.equal(recordStatus(record), "reused");
            assert.equal(await stopProcess(record, { graceSeconds: 0.2 }), "pid reused");
            await sleep(200);
            assert.equal(isAlive(other.pid!), true, "the unrelated program was killed");
        } finally {
            other.kill("SIGKILL");
        }
    });

    it("finds the processes whose environment names the sandbox's backend (an engine's orphaned plugins), and no other", async () => {
        const mark = `file://${logs}/backend`;
        const mine = spawn("sleep", ["300"], { detached: true, stdio: "ignore", env: { ...process.env, PULUMI_BACKEND_URL: mark } });
        const prefixOnly = spawn("sleep", ["300"], { detached: true, stdio: "ignore", env: { ...process.env, PULUMI_BACKEND_URL: `${mark}-other` } });
        try {
            await waitUntil("both to start", () => isAlive(mine.pid!) && isAlive(prefixOnly.pid!));
            assert.deepEqual(processesWithEnv("PULUMI_BACKEND_URL", mark), [mine.pid]);
        } finally {
            mine.kill("SIGKILL");
            prefixOnly.kill("SIGKILL");
        }
    });
});

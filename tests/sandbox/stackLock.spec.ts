/**
 * The sandbox's reading of a file backend's stack lock (sandbox/stack.ts), against the format pulumi/pulumi
 * pkg/backend/diy/lock.go writes (v3.274.1): `<backend>/.pulumi/locks/organization/<project>/<stack>/<uuid>.json`
 * (`stackLockDir` = `.pulumi/locks` + `fsutil.QnamePath(FullyQualifiedName())`, `lockPath` = that + `lockID + ".json"`)
 * holding `lockContent{Pid, Username, Hostname, Timestamp}` as JSON.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describeLock, engineErrorSummary, lockHolder, readStackLocks, StackLock, stackLockDir } from "../../sandbox/stack";

const PULUMI = "/home/u/.cache/model-fleet/tools/pulumi/v3.274.1/bin/pulumi";

describe("sandbox stack lock (file backend)", () => {
    let backend: string;
    beforeEach(() => (backend = fs.mkdtempSync(path.join(os.tmpdir(), "sandbox-backend-"))));
    afterEach(() => fs.rmSync(backend, { recursive: true, force: true }));

    it("reads the lock file where and as pkg/backend/diy/lock.go writes it", () => {
        const dir = path.join(backend, ".pulumi", "locks", "organization", "model-fleet", "local");
        fs.mkdirSync(dir, { recursive: true });
        // json.Marshal(lockContent): Go's time.Time marshals as RFC 3339 with nanoseconds.
        fs.writeFileSync(
            path.join(dir, "5b1d4f8e-2c3a-4a8e-9f3e-0d6c1f2b7a90.json"),
            '{"pid":4242,"username":"runner","hostname":"ci-7","timestamp":"2026-12-06T23:04:16.123456789Z"}',
        );
        assert.equal(stackLockDir(backend, "model-fleet", "local"), dir);
        assert.deepEqual(readStackLocks(backend, "model-fleet", "local"), [
            {
                file: path.join(dir, "5b1d4f8e-2c3a-4a8e-9f3e-0d6c1f2b7a90.json"),
                pid: 4242,
                username: "runner",
                hostname: "ci-7",
                timestamp: "2026-12-06T23:04:16.123456789Z",
            },
        ]);
        assert.deepEqual(readStackLocks(backend, "model-fleet", "other"), [], "no lock directory, no lock");
    });

    it("an unreadable lock file is still reported (pid 0), so that it is never silently ignored", () => {
        const dir = stackLockDir(backend, "model-fleet", "local");
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, "x.json"), "{trunc");
        assert.equal(readStackLocks(backend, "model-fleet", "local")[0].pid, 0);
    });

    describe("who holds a lock", () => {
        const lock: StackLock = { file: "/b/x.json", pid: 4242, username: "runner", hostname: "ci-7", timestamp: "t" };
        const probe = (cmd?: string) => ({ hostname: "ci-7", commandLine: (pid: number) => (pid === 4242 ? cmd : undefined) });

        it("gone: no process has that pid any more (the killed `pulumi up`)", () => {
            assert.equal(lockHolder(lock, probe(undefined), PULUMI), "gone");
        });
        it("gone: the pid now runs another program than a Pulumi CLI (a reused pid)", () => {
            assert.equal(lockHolder(lock, probe("/usr/sbin/sshd -D"), PULUMI), "gone");
        });
        it("sandbox engine: the sandbox's own CLI still runs (only the Node.js process of `up` was killed)", () => {
            assert.equal(
                lockHolder(lock, probe(`${PULUMI} up --yes --skip-preview --client=127.0.0.1:40123 --exec-kind auto.inline`), PULUMI),
                "sandbox engine",
            );
        });
        it("live: another Pulumi CLI runs under that pid; it is left alone", () => {
            assert.equal(lockHolder(lock, probe("/usr/local/bin/pulumi refresh"), PULUMI), "live");
        });
        it("other host: a lock taken elsewhere cannot be checked from here; it is left alone", () => {
            assert.equal(lockHolder({ ...lock, hostname: "ci-8" }, probe(undefined), PULUMI), "other host");
        });
        it("is described with the fields pulumi's own diagnostic shows", () => {
            assert.equal(describeLock(lock), "pid 4242 of runner@ci-7 since t");
        });
    });

    it("an engine error is summarised to its error lines, not dumped", () => {
        // The shape of an Automation API CommandError's message (automation/errors.ts: `code`, `stdout`, `stderr`)
        // around the diagnostic of lock.go `checkForLock`.
        const message = [
            "code: 255",
            " stdout: ",
            " stderr: error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.",
            "  file:///repo/out/sandbox/backend/.pulumi/locks/organization/model-fleet/local/5b1d.json: created by root@box (pid 4242) at 2026-12-06T23:04:16Z",
            "",
            " err?: Error: Command failed with exit code 255: pulumi destroy --yes --skip-preview --exec-kind auto.inline --stack local --non-interactive",
            "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.",
            "    at makeError (node_modules/execa/lib/error.js:60:11)",
        ].join("\n");
        assert.equal(
            engineErrorSummary(message),
            [
                "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.",
                "file:///repo/out/sandbox/backend/.pulumi/locks/organization/model-fleet/local/5b1d.json: created by root@box (pid 4242) at 2026-12-06T23:04:16Z",
            ].join("\n"),
        );
        assert.equal(engineErrorSummary("a\nb\n\nc"), "a\nb\nc", "no error line: the last lines");
    });
});

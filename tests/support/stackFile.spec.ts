/**
 * The stack-file reader (support/stackFile.ts) every command, the harness and the tests use: a stack file that cannot
 * be used is a StackFileError whose one-line message names the file and what to do.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { knownStacks, readStackDocument, StackFileError } from "../../support/stackFile";

describe("stack files (support/stackFile.ts)", () => {
    let tmp: string;
    before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "stackfile-"))));
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    function fails(stackOrFile: string, reason: "missing" | "invalid", message: RegExp): void {
        assert.throws(
            () => readStackDocument(stackOrFile),
            (e: Error) => e instanceof StackFileError && e.reason === reason && !e.message.includes("\n") && message.test(e.message),
        );
    }

    it("reads a stack by name or path", () => {
        assert.equal(readStackDocument("dev").config["model-fleet:environment"], "development");
        for (const stack of ["dev", "prod"]) assert.ok(knownStacks().includes(stack), stack);
    });

    it("an unknown stack names its file and the stacks there are", () => {
        const message = `unknown stack staging: Pulumi.staging.yaml does not exist; use one of ${knownStacks().join(", ")}, or create Pulumi.staging.yaml`;
        assert.throws(
            () => readStackDocument("staging"),
            (e: Error) => e instanceof StackFileError && e.reason === "missing" && e.message === message,
        );
        fails("org/model-fleet/staging", "missing", /^unknown stack staging: /);
    });

    it("a missing file, a YAML syntax error, a document that is no stack file", () => {
        fails(path.join(tmp, "nope.yaml"), "missing", /^stack file .*nope\.yaml does not exist: check the path$/);
        const write = (name: string, text: string) => {
            fs.writeFileSync(path.join(tmp, name), text);
            return path.join(tmp, name);
        };
        fails(write("syntax.yaml", "config:\n  a: [1,\n"), "invalid", /^.*syntax\.yaml is not valid YAML at line \d+, column \d+: .+; fix the file's syntax$/);
        fails(write("list.yaml", "- a\n- b\n"), "invalid", /^.*list\.yaml is not a stack file: expected a mapping with a `config:` key; fix the file$/);
        fails(write("config.yaml", "config: [a]\n"), "invalid", /^.*config\.yaml: `config:` must be a mapping of keys to values; fix the file$/);
        assert.deepEqual(readStackDocument(write("empty.yaml", "")).config, {});
    });
});

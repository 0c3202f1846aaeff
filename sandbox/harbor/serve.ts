/**
 * The Harbor stub as a long-running HTTPS server for the sandbox (`--port`, `--cert`, `--key`, `--username`,
 * `--password`): the same swagger-validating stub the unit tests use, so the Harbor dynamic providers run for real
 * in the Pulumi engine's provider host against it. Requests that break the swagger are logged as violations.
 */
import * as fs from "node:fs";
import { parseArgs } from "node:util";
import { HarborStub } from "../../support/harborStub";

async function main(): Promise<void> {
    const { values } = parseArgs({
        options: {
            port: { type: "string" },
            cert: { type: "string" },
            key: { type: "string" },
            username: { type: "string", default: "admin" },
            password: { type: "string" },
        },
    });
    if (!values.port || !values.cert || !values.key || !values.password) {
        throw new Error("usage: serve.ts --port N --cert FILE --key FILE --password P [--username U]");
    }
    const stub = new HarborStub(values.username, values.password);
    await stub.start({ port: Number(values.port), tls: { cert: fs.readFileSync(values.cert, "utf8"), key: fs.readFileSync(values.key, "utf8") } });
    console.log(`harbor stub listening on ${stub.url}`);
    let seen = 0;
    setInterval(() => {
        for (; seen < stub.requests.length; seen++) {
            const r = stub.requests[seen];
            console.log(`${r.method} ${r.path}`);
        }
        for (const v of stub.violations.splice(0)) console.log(`SWAGGER VIOLATION: ${v}`);
    }, 500);
    const stop = () => void stub.stop().then(() => process.exit(0));
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main().catch((e) => {
    console.error(`harbor stub: ${(e as Error).message}`);
    process.exit(1);
});

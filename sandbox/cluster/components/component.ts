/**
 * A sandbox component as data (pure): its command line, working directory and health check, the way kwok's
 * pkg/kwokctl/components builders return an `internalversion.Component`. Nothing here starts a process or touches a
 * file; `controlPlane.ts` turns components into processes.
 */

export type ComponentName =
    | "etcd"
    | "kube-apiserver"
    | "kube-controller-manager"
    | "kube-scheduler"
    | "kwok"
    | "argo-rollouts"
    | "harbor-stub"
    | "kyverno"
    | "metrics-server"
    | "keda-operator"
    | "keda-adapter";

/** How a component's readiness is probed: `admin` presents the sandbox's admin client certificate, `ca` trusts the sandbox CA, `insecure` skips verification (self-signed serving certificates). */
export type HealthTls = "none" | "insecure" | "admin" | "ca";

export interface HealthCheck {
    url: string;
    tls: HealthTls;
    /** `ok`: HTTP 200 only; `any`: any HTTP answer (the stub's API answers 401 without credentials). */
    accept: "ok" | "any";
}

export interface Component {
    name: ComponentName;
    command: string;
    args: string[];
    cwd?: string;
    /** Variables added to the environment it inherits; default none. */
    env?: Readonly<Record<string, string>>;
    health: HealthCheck;
    /** Seconds to wait for the health check. */
    timeoutSeconds: number;
}

/** Fields every builder's config has. */
export interface CommonComponentConfig {
    /** The binary to run. */
    binary: string;
    /** Listen address; default 127.0.0.1. */
    address?: string;
    /** Flags that replace the builder's flag of the same name (`--name=value`), or are appended; default none. */
    extraArgs?: readonly string[];
}

export const LOOPBACK = "127.0.0.1";

const flagName = (arg: string) => (arg.startsWith("--") ? arg.slice(2).split("=")[0] : undefined);

/**
 * The builder's flags with `extra` applied: a `--flag=value` in `extra` replaces every flag of that name in place,
 * anything else is appended (as kwok's component patches `extraArgs` do).
 */
export function withExtraArgs(args: readonly string[], extra: readonly string[] = []): string[] {
    const out = [...args];
    const appended: string[] = [];
    for (const e of extra) {
        const name = flagName(e);
        const at = name === undefined ? -1 : out.findIndex((a) => flagName(a) === name);
        if (at < 0) {
            appended.push(e);
            continue;
        }
        out[at] = e;
        for (let i = out.length - 1; i > at; i--) if (flagName(out[i]) === name) out.splice(i, 1);
    }
    return [...out, ...appended];
}

/** A component's command line as a shell would run it (the golden-file format, like kwokctl's dry run). */
export function formatComponent(c: Component): string {
    const env = Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${v === "" ? '""' : v}`);
    return `${c.cwd ? `cd ${c.cwd} && ` : ""}${[...env, c.command, ...c.args].join(" ")} &`;
}
